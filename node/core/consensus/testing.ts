/**
 * A real, throwaway etcd for tests (testing.md §1: "real etcd started on a temp unix socket").
 * Client and peer traffic both use unix sockets in a temp directory, so parallel tests never fight
 * over ports and nothing is reachable from outside.
 */
import { Etcd3 } from "etcd3";
import { KV } from "./kv.ts";

/** A running test etcd. */
export interface TestEtcd {
  /** Directory holding data and sockets. */
  dir: string;
  /** etcd3 host string for the client socket. */
  endpoint: string;
  client: Etcd3;
  /** PID of the etcd process (benchmarks read its CPU time). */
  pid: number;
  /** The root namespace. */
  kv: KV;
  /** Stops etcd, closes the client and removes the directory. */
  stop(): Promise<void>;
}

/** Path of the etcd binary: Debian's etcd-server on the host (installed by .ci/setup). */
export function etcdBinary(): string {
  for (const p of ["/usr/bin/etcd", "/etcd/bin/etcd"]) {
    try {
      Deno.statSync(p);
      return p;
    } catch { /* next */ }
  }
  throw new Error("etcd binary not found (run `deno task setup` to install etcd-server)");
}

/**
 * Starts etcd and waits until it serves a linearizable read (≈ 0.5–1 s). `name` is the member
 * name (a node ID when a test plays a node).
 */
export async function startTestEtcd(opts: { name?: string } = {}): Promise<TestEtcd> {
  const name = opts.name ?? "test";
  const dir = await Deno.makeTempDir({ prefix: "metropolis-etcd-" });
  const child = new Deno.Command(etcdBinary(), {
    args: [
      `--name=${name}`,
      `--data-dir=${dir}/data`,
      "--listen-client-urls=unix://client.sock:0",
      "--advertise-client-urls=unix://client.sock:0",
      "--listen-peer-urls=unix://peer.sock:0",
      "--initial-advertise-peer-urls=unix://peer.sock:0",
      `--initial-cluster=${name}=unix://peer.sock:0`,
      "--logger=zap",
      "--log-outputs=stderr",
      "--log-level=error",
    ],
    cwd: dir,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const stderr = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let log = "";
  (async () => {
    for (;;) {
      const { value, done } = await stderr.read();
      if (done) break;
      log = (log + value).slice(-4000);
    }
  })();
  const endpoint = `unix://${dir}/client.sock:0`;
  const client = new Etcd3({ hosts: endpoint, dialTimeout: 1000 });
  const kv = new KV(client);
  const deadline = Date.now() + 15_000;
  let exited = false;
  child.status.then(() => exited = true);
  for (;;) {
    try {
      await kv.revision();
      break;
    } catch (e) {
      if (exited || Date.now() > deadline) {
        client.close();
        try {
          child.kill("SIGKILL");
        } catch { /* gone */ }
        await child.status;
        throw new Error(`test etcd did not come up: ${e}\n${log}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return {
    dir,
    endpoint,
    client,
    pid: child.pid,
    kv,
    async stop() {
      client.close();
      try {
        child.kill("SIGTERM");
      } catch { /* already gone */ }
      await child.status;
      await stderr.cancel().catch(() => {});
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}
