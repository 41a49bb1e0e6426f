/**
 * Starts e2e/bench/curator_server.ts as a child process and dials it: the benches' view of the
 * leader (its {@link ServerInfo}, owner credentials, /proc readings of its PID).
 */
import { Buffer } from "node:buffer";
import type * as grpc from "@grpc/grpc-js";
import type { GenService, GenServiceMethods } from "@bufbuild/protobuf/codegenv2";
import { makeClient, type ServiceClient } from "../../proto/grpc.ts";
import { connectionParams, type DialOptions } from "../../node/core/rpc/client.ts";
import { importPkcs8 } from "../../node/base/pki/keys.ts";
import type { ServerInfo } from "./curator_server.ts";
import { cpuSeconds, rssMiB } from "./proc.ts";
import { delay } from "../../node/base/delay/delay.ts";
import { AGENT_V8_FLAGS } from "../../node/base/osimage/agent.ts";

/** A running bench curator. */
export interface BenchServer {
  info: ServerInfo;
  ca: Uint8Array;
  caKey: CryptoKey;
  owner: { certificate: Uint8Array; privateKey: CryptoKey };
  /** A typed client dialled like metroctl does (CA-verified, server must be the curator's node). */
  client<S extends GenServiceMethods>(
    service: GenService<S>,
    identity: DialOptions["identity"],
  ): Promise<ServiceClient<S>>;
  /** utime+stime of the leader process in seconds (/proc/<pid>/stat). */
  cpuSeconds(): number;
  /** VmRSS of the leader process in MiB. */
  rssMiB(): number;
  /** SIGKILLs the server (a crash: no resignation); its etcd keeps running until {@link stop}. */
  kill(): Promise<void>;
  /**
   * Stops the server's curator the way an agent shuts down (SIGHUP: its leadership resigned);
   * its etcd keeps running until {@link stop}.
   */
  handOver(): Promise<void>;
  stop(): Promise<void>;
}

const fromB64 = (s: string) => new Uint8Array(Buffer.from(s, "base64"));

/** Whether `pid` is (still) an etcd process. */
function isEtcd(pid: number): boolean {
  try {
    return Deno.readTextFileSync(`/proc/${pid}/comm`).trim() === "etcd";
  } catch {
    return false;
  }
}

/** Spawns the server with `args` (e.g. `--nodes 1000`) and waits for its info line. */
export async function startBenchServer(args: string[] = []): Promise<BenchServer> {
  const script = new URL("./curator_server.ts", import.meta.url).pathname;
  const child = new Deno.Command(Deno.execPath(), {
    // BENCH_SERVER_FLAGS: extra Deno flags for the leader, e.g. `--cpu-prof --cpu-prof-dir=DIR`.
    // The agent's V8 flags, so that the leader's memory and CPU are the agent's.
    args: [
      "run",
      "-A",
      `--v8-flags=${AGENT_V8_FLAGS.join(",")}`,
      ...(Deno.env.get("BENCH_SERVER_FLAGS")?.split(" ").filter(Boolean) ?? []),
      script,
      ...args,
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  let line: string | undefined;
  while (line === undefined) {
    const { value, done } = await reader.read();
    if (done) {
      await child.status;
      throw new Error("bench curator exited before printing its info line");
    }
    buf += value;
    const nl = buf.indexOf("\n");
    if (nl >= 0) line = buf.slice(0, nl);
  }
  // Keep draining stdout so the child never blocks on a full pipe.
  (async () => {
    while (!(await reader.read()).done) { /* discard */ }
  })();
  const info = JSON.parse(line) as ServerInfo;
  const ca = fromB64(info.ca);
  const caKey = (await importPkcs8(fromB64(info.caKey))).privateKey;
  const owner = {
    certificate: fromB64(info.ownerCert),
    privateKey: (await importPkcs8(fromB64(info.ownerKey))).privateKey,
  };
  const clients: { close(): void }[] = [];
  let killed = false;
  // Ends the server with `signal` without stopping its etcd (stop() does that afterwards).
  const end = async (signal: Deno.Signal) => {
    killed = true;
    try {
      child.kill(signal);
    } catch { /* gone */ }
    await child.status;
  };
  return {
    info,
    ca,
    caKey,
    owner,
    async client(service, identity) {
      const p = await connectionParams(info.target, { ca, nodeId: info.nodeId, identity });
      const c = makeClient(service, p.address, p.credentials, p.options as grpc.ClientOptions);
      clients.push(c);
      return c;
    },
    cpuSeconds: () => cpuSeconds(info.pid),
    rssMiB: () => rssMiB(info.pid),
    kill: () => end("SIGKILL"),
    handOver: () => end("SIGHUP"),
    async stop() {
      for (const c of clients) c.close();
      try {
        child.kill("SIGTERM");
      } catch { /* gone */ }
      await child.stdin.close().catch(() => {});
      await child.status;
      // After a kill() or handOver() nobody stopped the etcd the server started (our grandchild),
      // nor removed its directory.
      if (killed && info.etcdPid) {
        try {
          if (isEtcd(info.etcdPid)) Deno.kill(info.etcdPid, "SIGTERM");
        } catch { /* stopped with the server */ }
        for (let i = 0; i < 100 && isEtcd(info.etcdPid); i++) await delay(50);
        if (info.etcdDir) await Deno.remove(info.etcdDir, { recursive: true }).catch(() => {});
      }
    },
  };
}
