/**
 * A real, throwaway etcd for tests (testing.md §1: "real etcd started on a temp unix socket").
 * Client and peer traffic both use unix sockets in a temp directory, so parallel tests never fight
 * over ports and nothing is reachable from outside.
 */
import type { Etcd3 } from "etcd3";
import { etcdClient } from "./client.ts";
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

/** Members of a test etcd cluster, started together (see {@link startTestEtcd}). */
export interface TestEtcdCluster {
  /** Directory of every member's data and sockets, made and removed by the caller. */
  dir: string;
  /** Names of all members. */
  names: string[];
}

/**
 * Starts etcd and waits until it serves a linearizable read (≈ 0.5–1 s). `name` is the member
 * name (a node ID when a test plays a node). With `cluster`, it is one of several members, each
 * started with this call at the same time (the read needs a quorum); their sockets share
 * `cluster.dir`, and `stop()` leaves that directory to the caller.
 */
export async function startTestEtcd(
  opts: { name?: string; cluster?: TestEtcdCluster } = {},
): Promise<TestEtcd> {
  const name = opts.name ?? "test";
  const cluster = opts.cluster;
  const dir = cluster?.dir ?? await Deno.makeTempDir({ prefix: "metropolis-etcd-" });
  // Relative to `dir` (etcd's cwd): unix socket paths are short that way.
  const sock = (member: string, kind: "client" | "peer") =>
    `unix://${cluster ? `${member}.` : ""}${kind}.sock:0`;
  const members = cluster?.names ?? [name];
  const child = new Deno.Command(etcdBinary(), {
    args: [
      `--name=${name}`,
      `--data-dir=${dir}/${cluster ? `${name}.` : ""}data`,
      `--listen-client-urls=${sock(name, "client")}`,
      `--advertise-client-urls=${sock(name, "client")}`,
      `--listen-peer-urls=${sock(name, "peer")}`,
      `--initial-advertise-peer-urls=${sock(name, "peer")}`,
      `--initial-cluster=${members.map((m) => `${m}=${sock(m, "peer")}`).join(",")}`,
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
  const endpoint = sock(name, "client").replace("unix://", `unix://${dir}/`);
  const client = etcdClient(endpoint, { dialTimeout: 1000 });
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
        if (!cluster) await Deno.remove(dir, { recursive: true }).catch(() => {});
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
      if (!cluster) await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}
