/**
 * A real, throwaway kube-apiserver for tests of the agent's Kubernetes services: the `kube`
 * binary from the build cache (node/kubernetes/hyperkube), a test etcd on a unix socket, the
 * certificates of a fresh {@link KubernetesPKI}, and the flags of {@link apiserverArgs} with the
 * port and advertise address of a loopback test. Start-up takes 5–30 s on a busy machine.
 *
 * Tests call {@link cachedKube} first and report `skipped: <reason>` when no binary is built
 * (building it takes ~10 min: `deno run -A node/kubernetes/hyperkube/build.ts`).
 */
import { startTestEtcd, type TestEtcd } from "../../core/consensus/testing.ts";
import {
  certificatePem,
  exportPkcs8Pem,
  generateEd25519,
  MemoryPkiStorage,
} from "../../base/pki/mod.ts";
import { kubeCA, workerTemplates } from "../../core/curator/kubepki.ts";
import { cacheRoot } from "../buildcache.ts";
import { KubeClient } from "../client/client.ts";
import { KubernetesPKI } from "../pki/kubepki.ts";
import { apiserverArgs, apiserverFiles, readyzProbe, writeApiserverFiles } from "./apiserver.ts";

/** The newest cached `kube` binary, or undefined when none has been built. */
export function cachedKube(): string | undefined {
  let best: { path: string; mtime: number } | undefined;
  try {
    for (const e of Deno.readDirSync(`${cacheRoot()}/kube`)) {
      const path = `${cacheRoot()}/kube/${e.name}/kube`;
      try {
        const st = Deno.statSync(path);
        const mtime = st.mtime?.getTime() ?? 0;
        if (st.isFile && (!best || mtime > best.mtime)) best = { path, mtime };
      } catch { /* not built */ }
    }
  } catch { /* no cache */ }
  return best?.path;
}

/** A running test apiserver. */
export interface TestApiserver {
  /** `https://127.0.0.1:<port>`. */
  server: string;
  /** id-ca, the CA of the serving certificate and of every client identity. */
  caPem: string;
  pki: KubernetesPKI;
  etcd: TestEtcd;
  /** A client as `master` (system:masters). Closed by {@link close}. */
  master: KubeClient;
  /** A new client with the given identity (the caller closes it). */
  connect(id: { certPem: string; keyPem: string }): KubeClient;
  /** A worker identity of node `nodeId` as the curator issues it (kubernetes.md §4). */
  workerIdentity(
    nodeId: string,
    which: keyof ReturnType<typeof workerTemplates>,
  ): Promise<{ certPem: string; keyPem: string }>;
  /** Stops the apiserver and etcd and removes their files. */
  close(): Promise<void>;
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** Starts the apiserver (see the module comment) and waits until /readyz answers 200. */
export async function startTestApiserver(kube: string): Promise<TestApiserver> {
  const etcd = await startTestEtcd();
  const dir = await Deno.makeTempDir({ prefix: "metropolis-apiserver-" });
  const storage = new MemoryPkiStorage();
  const pki = new KubernetesPKI(storage);
  const files = apiserverFiles(dir);
  const caPem = await writeApiserverFiles(pki, files);
  const port = freePort();
  const server = `https://127.0.0.1:${port}`;
  const child = new Deno.Command(kube, {
    args: [
      "kube-apiserver",
      ...apiserverArgs({ address: "127.0.0.1", etcdServers: etcd.endpoint, files }),
      // Later flags win: a loopback test port instead of the node's fixed one.
      `--secure-port=${port}`,
      "--bind-address=127.0.0.1",
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let log = "";
  const reading = (async () => {
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
      log = (log + chunk).slice(-3000);
    }
  })();
  let exited = false;
  child.status.then(() => exited = true);
  const stop = async () => {
    if (!exited) child.kill("SIGTERM");
    await child.status;
    await reading.catch(() => {});
    await etcd.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  const ready = readyzProbe(caPem, server);
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (await ready(AbortSignal.timeout(3000)).catch(() => false)) break;
    if (exited || Date.now() > deadline) {
      await stop();
      throw new Error(`test apiserver did not become ready: ${log.slice(-1500)}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  const connect = (id: { certPem: string; keyPem: string }) =>
    new KubeClient({ server, caPem, ...id });
  const master = connect(await pki.identity("master"));
  return {
    server,
    caPem,
    pki,
    etcd,
    master,
    connect,
    workerIdentity: async (nodeId, which) => {
      const keys = await generateEd25519();
      const der = await kubeCA(storage, "id-ca").ensure(
        `test-${which}-${nodeId}`,
        workerTemplates(nodeId)[which],
        keys.publicKey,
      );
      return { certPem: certificatePem(der), keyPem: await exportPkcs8Pem(keys.privateKey) };
    },
    close: async () => {
      master.close();
      await stop();
    },
  };
}
