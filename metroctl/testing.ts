/**
 * Test helpers: run the real metroctl CLI as a subprocess and collect its exit code and output;
 * write an owner key into a config directory; start node/core's test curator. Reusable by e2e
 * suites.
 */
import type { Curator } from "../proto/gen/metropolis/node/core/curator/proto/api/api_pb.ts";
import type { ServiceClient } from "../proto/grpc.ts";
import { pemEncode } from "../node/base/pki/pem.ts";
import { exportGoEd25519 } from "../node/base/pki/keys.ts";
import { OWNER_KEY_PEM_TYPE } from "./core/config.ts";
import { writeOsImageLayout } from "../node/base/osimage/oci_layout.ts";
import { OS_VERSION } from "../node/base/osimage/version.ts";

/** Outcome of one metroctl run. */
export interface MetroctlResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Options of {@link runMetroctl}. */
export interface RunOptions {
  /** Extra environment variables. */
  env?: Record<string, string>;
  /** Working directory. */
  cwd?: string;
  /** Text fed to stdin (default: none, stdin is not a terminal). */
  stdin?: string;
  /** Kill the process after this many ms (default 60 s). */
  timeoutMs?: number;
  /** Entry point to run (default: metroctl/main.ts from source; e.g. dist/metroctl.js). */
  entry?: string;
  /** Called with each stderr line as it arrives (e.g. to timestamp a rollout's progress). */
  onStderrLine?: (line: string) => void;
}

const MAIN = new URL("./main.ts", import.meta.url).pathname;

/** Runs `metroctl <args>` with `Deno.execPath() run -A`, returning code, stdout and stderr. */
export async function runMetroctl(args: string[], o: RunOptions = {}): Promise<MetroctlResult> {
  const entry = o.entry ?? MAIN;
  const cmd = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", ...(entry.endsWith(".js") ? ["--no-config"] : []), entry, ...args],
    env: { NO_COLOR: "1", ...o.env },
    cwd: o.cwd,
    stdin: o.stdin !== undefined ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  });
  const child = cmd.spawn();
  if (o.stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(o.stdin));
    await w.close();
  }
  const timer = setTimeout(() => child.kill("SIGKILL"), o.timeoutMs ?? 60_000);
  try {
    const [status, stdout, stderr] = await Promise.all([
      child.status,
      new Response(child.stdout).text(),
      readLines(child.stderr, o.onStderrLine),
    ]);
    return { code: status.code, stdout, stderr };
  } finally {
    clearTimeout(timer);
  }
}

/** All of `stream` as text, each complete line also handed to `onLine` as it arrives. */
async function readLines(
  stream: ReadableStream<Uint8Array>,
  onLine?: (line: string) => void,
): Promise<string> {
  let all = "";
  let partial = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    all += chunk;
    const lines = (partial + chunk).split("\n");
    partial = lines.pop()!;
    for (const l of lines) onLine?.(l);
  }
  if (partial) onLine?.(partial);
  return all;
}

/** Writes `owner-key.pem` for `keys` into `dir` (created 0700), as `install --bootstrap` would. */
export async function writeOwnerKey(dir: string, keys: CryptoKeyPair): Promise<void> {
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  await Deno.writeTextFile(
    `${dir}/owner-key.pem`,
    pemEncode(OWNER_KEY_PEM_TYPE, await exportGoEd25519(keys)),
    { mode: 0o600 },
  );
}

/**
 * Writes an OS image layout to `dir` with one payload per entry, with the OS-image contract's
 * writer (image.md §9); the product version is `version` (default the tree's).
 */
export async function writeOciLayout(
  dir: string,
  payloads: Record<string, Uint8Array>,
  version = OS_VERSION,
): Promise<string> {
  const tmp = await Deno.makeTempDir({ prefix: "metroctl-oci-" });
  try {
    const files = [];
    for (const [name, data] of Object.entries(payloads)) {
      await Deno.writeFile(`${tmp}/${name}`, data);
      files.push({ name, path: `${tmp}/${name}` });
    }
    const { manifestDigest } = await writeOsImageLayout(dir, files, {
      id: "metropolis-node",
      name: "Metropolis Node",
      version,
      variant: "test",
      commit_hash: "test",
    });
    return manifestDigest;
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}

/** The part of node/core/curator/testing.ts's TestCurator the metroctl tests use. */
export interface TestCurator {
  target: string;
  nodeId: string;
  ownerKeys: CryptoKeyPair;
  caCertificate: Uint8Array;
  nodeKeys: CryptoKeyPair;
  nodeCertificate: Uint8Array;
  client(
    service: typeof Curator,
    identity: { certificate: Uint8Array; privateKey: CryptoKey },
  ): Promise<ServiceClient<typeof Curator.method>>;
  stop(): Promise<void>;
}

// The curator fixture lives in node/core, which shipped metroctl code must not import
// (architecture.md §6); it is loaded at run time, so the layering of metroctl/ stays as is.
const CURATOR_FIXTURE = new URL("../node/core/curator/testing.ts", import.meta.url).href;

/** Starts node/core's test curator (real etcd, TLS on 127.0.0.1). */
export async function startTestCurator(): Promise<TestCurator> {
  return await (await import(CURATOR_FIXTURE)).startTestCurator();
}
