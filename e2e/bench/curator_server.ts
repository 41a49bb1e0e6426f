/**
 * The curator leader of the control-plane benchmarks, run as its own process so the load
 * generator's CPU does not count as the leader's: a real etcd plus a bootstrapped curator on
 * 127.0.0.1 with TLS ({@link startTestCurator}), optionally seeded with `--nodes N` mixed node
 * records (bench-only seeding, see seed.ts).
 *
 * Prints one JSON line ({@link ServerInfo}) on stdout once it serves and the leader's node cache
 * holds every seeded record, then serves until SIGTERM/SIGINT or until stdin closes. SIGHUP stops
 * only the curator, its leadership resigned (the failover's planned stop), and leaves etcd running.
 *
 * With `--join <etcd3 host>` it is a second curator of that cluster instead (no etcd of its own,
 * no bootstrap, no seeding): it campaigns and leads once the first one's key is gone — resigned,
 * deposed once its port stopped answering, or its lease run out (the heartbeats bench's
 * failover).
 *
 * Usage: `deno run -A e2e/bench/curator_server.ts [--nodes N | --join HOST]`.
 */
import { Buffer } from "node:buffer";
import v8 from "node:v8";
import { Management } from "../../proto/gen/metropolis/proto/api/management_pb.ts";
import { Curator } from "../../proto/gen/metropolis/node/core/curator/proto/api/api_pb.ts";
import { etcdClient } from "../../node/core/consensus/client.ts";
import { startTestCurator } from "../../node/core/curator/testing.ts";
import type { TestEtcd } from "../../node/core/consensus/testing.ts";
import { KV } from "../../node/core/consensus/kv.ts";
import { exportPkcs8 } from "../../node/base/pki/keys.ts";
import { clusterCA } from "../../node/core/curator/bootstrap.ts";
import { issueCertificate } from "../../node/base/pki/cert.ts";
import { OWNER_IDENTITY, userTemplate } from "../../node/core/identity/profiles.ts";
import { trimMallocPeriodically } from "../../node/base/sys/malloc.ts";
import { benchRecord, randomPublicKeys, seedRecords, waitSeededVisible } from "./seed.ts";

/** What the server prints: enough to dial it as the owner and to issue node certificates. */
export interface ServerInfo {
  /** `127.0.0.1:<port>`. */
  target: string;
  /** Node ID of the curator (its TLS server name). */
  nodeId: string;
  /** Base64 DER of the cluster CA certificate. */
  ca: string;
  /** Base64 PKCS#8 of the cluster CA key (the bench issues node certificates with it). */
  caKey: string;
  /** Base64 DER of the owner certificate and PKCS#8 of its key. */
  ownerCert: string;
  ownerKey: string;
  /** etcd3 host string of the cluster's etcd (unix socket, no TLS), for bench-only seeding. */
  etcd: string;
  /** Number of records seeded by `--nodes`. */
  seeded: number;
  /** PID of this process (the leader). */
  pid: number;
  /** PID of the etcd this process started (0 with `--join`): it outlives a SIGKILLed server. */
  etcdPid: number;
  /** That etcd's directory ("" with `--join`), removed by whoever stops that etcd. */
  etcdDir: string;
}

const b64 = (b: Uint8Array) => Buffer.from(b).toString("base64");

function parseNodes(args: string[]): number {
  const i = args.indexOf("--nodes");
  if (i < 0) return 0;
  const n = Number(args[i + 1]);
  if (!Number.isInteger(n) || n < 0) {
    throw new Error(`--nodes must be a non-negative integer, got "${args[i + 1]}"`);
  }
  return n;
}

/** A {@link TestEtcd} view of someone else's etcd at `endpoint` (stop closes the client only). */
function joinedEtcd(endpoint: string): TestEtcd {
  const client = etcdClient(endpoint, { dialTimeout: 1000 });
  return {
    dir: "",
    endpoint,
    client,
    pid: 0,
    kv: new KV(client),
    stop: () => Promise.resolve(client.close()),
  };
}

if (import.meta.main) {
  const nodes = parseNodes(Deno.args);
  const j = Deno.args.indexOf("--join");
  const join = j >= 0 ? Deno.args[j + 1] : undefined;
  // Production lease TTL: under full CPU load a 2 s test TTL could cost the leadership.
  const c = await startTestCurator({
    leaseTtl: 10,
    ...(join ? { etcd: joinedEtcd(join), noBootstrap: true } : {}),
  });
  const signer = await clusterCA(c.etcd.kv).signer();
  // Escrow needs the leader; a joining follower issues the owner certificate from the CA itself.
  const ownerCert = join
    ? await issueCertificate(userTemplate(OWNER_IDENTITY), c.ownerKeys.publicKey, signer)
    : await c.ownerCertificate();
  const mgmt = await c.client(Management, {
    certificate: ownerCert,
    privateKey: c.ownerKeys.privateKey,
  });
  if (!join) {
    // Its address in its node record, as an agent's status push reports it: the next curator in
    // line dials it there to tell a crash (node/core/curator/liveness.ts).
    const self = await c.client(Curator, {
      certificate: c.nodeCertificate,
      privateKey: c.nodeKeys.privateKey,
    });
    await self.updateNodeStatus({ nodeId: c.nodeId, status: { externalAddress: "127.0.0.1" } });
  }
  let seeded = 0;
  if (nodes > 0) {
    const started = performance.now();
    const records = randomPublicKeys(nodes).map((pub, i) => benchRecord(i, pub, true));
    const ids = await seedRecords(c.etcd.kv.namespace("curator/"), records);
    await waitSeededVisible(mgmt, ids[ids.length - 1]);
    seeded = ids.length;
    console.error(
      `curator_server: seeded ${seeded} records in ${Math.round(performance.now() - started)} ms`,
    );
  }
  const info: ServerInfo = {
    target: c.target,
    nodeId: c.nodeId,
    ca: b64(c.caCertificate),
    caKey: b64(await exportPkcs8(signer.privateKey)),
    ownerCert: b64(ownerCert),
    ownerKey: b64(await exportPkcs8(c.ownerKeys.privateKey)),
    etcd: c.etcd.endpoint,
    seeded,
    pid: Deno.pid,
    etcdPid: c.etcd.pid,
    etcdDir: c.etcd.dir,
  };
  console.log(JSON.stringify(info));
  // What the agent does for its memory besides its V8 flags (server_process.ts).
  trimMallocPeriodically();
  // BENCH_HEAP_EVERY_S=N: where the leader's memory is, on stderr every N s (V8 heap used and
  // committed, external and array-buffer memory, VmRSS), to tell garbage from live memory.
  const heapEvery = Number(Deno.env.get("BENCH_HEAP_EVERY_S") ?? 0);
  // BENCH_HEAP_SNAPSHOT=FILE: a V8 heap snapshot (Chrome DevTools format) into FILE on SIGUSR2.
  const snapshot = Deno.env.get("BENCH_HEAP_SNAPSHOT");
  if (snapshot) Deno.addSignalListener("SIGUSR2", () => v8.writeHeapSnapshot(snapshot));
  if (heapEvery > 0) {
    const mib = (b: number) => Math.round(b / 1048576);
    setInterval(() => {
      const h = v8.getHeapStatistics();
      const m = Deno.memoryUsage();
      console.error(
        `curator_server: heap used ${mib(h.used_heap_size)} MiB, committed ` +
          `${mib(h.total_heap_size)} MiB, external ${mib(m.external)} MiB, rss ${mib(m.rss)} MiB`,
      );
    }, heapEvery * 1000);
  }
  const stop = async () => {
    await c.stop().catch(() => {});
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGTERM", stop);
  Deno.addSignalListener("SIGINT", stop);
  // SIGHUP: a planned stop of the curator only — the leader resigns, as an agent's does when it
  // shuts down for a reboot or an update — while the etcd it started (the cluster's only member
  // here) keeps serving the other curator. Not SIGUSR1: Deno also opens its inspector on it.
  Deno.addSignalListener("SIGHUP", async () => {
    await c.stopCurator().catch(() => {});
    Deno.exit(0);
  });
  // The parent closing our stdin (or dying) also stops us, so no etcd is left behind.
  (async () => {
    const buf = new Uint8Array(64);
    while ((await Deno.stdin.read(buf)) !== null) { /* ignore */ }
    await stop();
  })();
}
