/**
 * Lower bound of formation (issue #16 item 3): three etcd members with peer TLS formed by a script,
 * no agents. Certificates come from the project's PKI helpers (an Ed25519 CA and
 * {@link etcdPeerTemplate} peer certificates, as node/core/consensus/etcd.ts uses), peers listen on
 * loopback TCP with TLS and client auth, clients on unix sockets (as the node's etcd does). The
 * clock runs from spawning the three processes until each member answers a linearizable read.
 */
import { Etcd3 } from "etcd3";
import { certificatePem } from "../../node/base/pki/info.ts";
import { exportPkcs8Pem, generateEd25519 } from "../../node/base/pki/keys.ts";
import { issueCertificate } from "../../node/base/pki/cert.ts";
import { etcdPeerTemplate } from "../../node/core/identity/profiles.ts";
import { etcdBinary } from "../../node/core/consensus/testing.ts";
import { KV } from "../../node/core/consensus/kv.ts";

/** Times of one floor run, ms from the spawn of the three members. */
export interface EtcdFloor {
  /** CA + three peer certificates (before the clock starts). */
  pkiMs: number;
  /** Member i answers a linearizable read. */
  memberReadyMs: number[];
  /** All three ready. */
  allReadyMs: number;
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** Forms a three-member etcd cluster with peer TLS on loopback and tears it down. */
export async function etcdFloor(members = 3): Promise<EtcdFloor> {
  const dir = await Deno.makeTempDir({ prefix: "metropolis-etcd-floor-" });
  const children: Deno.ChildProcess[] = [];
  const clients: Etcd3[] = [];
  try {
    const p0 = performance.now();
    const caKeys = await generateEd25519();
    const ca = await issueCertificate(
      { commonName: "etcd floor CA", isCA: true, keyUsage: ["certSign", "crlSign"] },
      caKeys.publicKey,
      { selfSigned: caKeys },
    );
    const names = Array.from({ length: members }, (_, i) => `floor-${i}`);
    const ports = names.map(() => freePort());
    for (const [i, name] of names.entries()) {
      const keys = await generateEd25519();
      const cert = await issueCertificate(
        etcdPeerTemplate(name, ["127.0.0.1"]),
        keys.publicKey,
        { certificate: ca, privateKey: caKeys.privateKey },
      );
      const d = `${dir}/${i}`;
      await Deno.mkdir(`${d}/pki`, { recursive: true, mode: 0o700 });
      await Deno.writeTextFile(`${d}/pki/ca.pem`, certificatePem(ca));
      await Deno.writeTextFile(`${d}/pki/cert.pem`, certificatePem(cert));
      await Deno.writeTextFile(`${d}/pki/key.pem`, await exportPkcs8Pem(keys.privateKey));
    }
    const pkiMs = performance.now() - p0;
    const initial = names.map((n, i) => `${n}=https://127.0.0.1:${ports[i]}`).join(",");
    const t0 = performance.now();
    for (const [i, name] of names.entries()) {
      const d = `${dir}/${i}`;
      children.push(
        new Deno.Command(etcdBinary(), {
          args: [
            `--name=${name}`,
            `--data-dir=${d}/data`,
            "--listen-client-urls=unix://client.sock:0",
            "--advertise-client-urls=unix://client.sock:0",
            `--listen-peer-urls=https://127.0.0.1:${ports[i]}`,
            `--initial-advertise-peer-urls=https://127.0.0.1:${ports[i]}`,
            `--initial-cluster=${initial}`,
            "--initial-cluster-state=new",
            "--initial-cluster-token=FLOOR",
            `--peer-cert-file=${d}/pki/cert.pem`,
            `--peer-key-file=${d}/pki/key.pem`,
            `--peer-trusted-ca-file=${d}/pki/ca.pem`,
            "--peer-client-cert-auth",
            "--listen-metrics-urls=",
            "--logger=zap",
            "--log-outputs=stderr",
            "--log-level=error",
          ],
          cwd: d,
          stdin: "null",
          stdout: "null",
          stderr: "null",
        }).spawn(),
      );
    }
    const deadline = Date.now() + 30_000;
    const memberReadyMs = await Promise.all(names.map(async (_, i) => {
      for (;;) {
        // A fresh client per attempt (as etcd.ts waitReady): a failed grpc-js channel backs off.
        const client = new Etcd3({ hosts: `unix://${dir}/${i}/client.sock:0`, dialTimeout: 1000 });
        clients.push(client);
        try {
          await new KV(client).revision();
          return performance.now() - t0;
        } catch (e) {
          if (Date.now() > deadline) throw new Error(`etcd floor: member ${i} not ready: ${e}`);
          await new Promise((r) => setTimeout(r, 20));
        } finally {
          client.close();
        }
      }
    }));
    return { pkiMs, memberReadyMs, allReadyMs: Math.max(...memberReadyMs) };
  } finally {
    for (const c of clients) c.close();
    for (const ch of children) {
      try {
        ch.kill("SIGKILL");
      } catch { /* gone */ }
      await ch.status;
    }
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) console.log(JSON.stringify(await etcdFloor()));
