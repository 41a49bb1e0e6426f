import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import {
  type IssueCertificateRequest,
  IssueCertificateResponseSchema,
} from "../../../proto/gen/metropolis/node/core/curator/proto/api/api_pb.ts";
import {
  CA,
  importEd25519Public,
  MemoryPkiStorage,
  parseCertificate,
  pemDecode,
} from "../../base/pki/mod.ts";
import { Value } from "../../base/event/value.ts";
import type { CuratorClient, WorkerDeps } from "../deps.ts";
import { type CredentialDirs, ensureWorkerCredentials, KEY_FILE } from "./workercerts.ts";

const leaf = (cn: string) => ({
  commonName: cn,
  keyUsage: ["digitalSignature" as const],
  isCA: false,
});

/** A curator that certifies whatever keys it is sent (or, with `wrongKey`, another key). */
function fakeCurator(calls: IssueCertificateRequest[], wrongKey = false): CuratorClient {
  const ca = new CA({
    storage: new MemoryPkiStorage(),
    name: "id-ca",
    template: { commonName: "Metropolis Kubernetes ID CA", keyUsage: ["certSign"], isCA: true },
  });
  const client = {
    issueCertificate: async (req: IssueCertificateRequest) => {
      calls.push(req);
      const w = req.kind.value!;
      const key = async (raw: Uint8Array) =>
        await importEd25519Public(wrongKey ? w.csiProvisionerPubkey : raw);
      const n = calls.length;
      return create(IssueCertificateResponseSchema, {
        kind: {
          case: "kubernetesWorker",
          value: {
            identityCaCertificate: await ca.certificate(),
            kubeletServerCertificate: await ca.ensure(
              `ks${n}`,
              leaf("ks"),
              await key(w.kubeletPubkey),
            ),
            kubeletClientCertificate: await ca.ensure(
              `kc${n}`,
              leaf("system:node:n"),
              await key(w.kubeletPubkey),
            ),
            csiProvisionerCertificate: await ca.ensure(
              `c${n}`,
              leaf("csi"),
              await key(w.csiProvisionerPubkey),
            ),
            netservicesCertificate: await ca.ensure(
              `ns${n}`,
              leaf("ns"),
              await key(w.netservicesPubkey),
            ),
          },
        },
      });
    },
  };
  return (() => Promise.resolve(client)) as unknown as CuratorClient;
}

function deps(curator: CuratorClient): WorkerDeps {
  return {
    identity: {} as WorkerDeps["identity"],
    address: new Value<string | undefined>(),
    nodes: new Value(new Map()),
    curator,
    host: { cgroupRoot: "/", wireguard: false, restrictOomScoreAdj: false },
  };
}

async function scratch(): Promise<{ root: string; dirs: CredentialDirs }> {
  const root = await Deno.makeTempDir({ prefix: "mk8s-wc-" });
  return {
    root,
    dirs: {
      keys: {
        kubelet: `${root}/data/kubelet`,
        csi: `${root}/data/csi`,
        netservices: `${root}/data/ns`,
      },
      out: {
        kubelet: `${root}/eph/kubelet`,
        csi: `${root}/eph/csi`,
        netservices: `${root}/eph/ns`,
      },
    },
  };
}

Deno.test("worker credentials: keys created once (0600) and reused across starts", async () => {
  const { root, dirs } = await scratch();
  try {
    const calls: IssueCertificateRequest[] = [];
    const c1 = await ensureWorkerCredentials(
      deps(fakeCurator(calls)),
      AbortSignal.timeout(10_000),
      dirs,
    );
    const st = await Deno.stat(`${dirs.keys.kubelet}/${KEY_FILE}`);
    assert.equal(st.mode! & 0o777, 0o600);
    const c2 = await ensureWorkerCredentials(
      deps(fakeCurator(calls)),
      AbortSignal.timeout(10_000),
      dirs,
    );
    assert.equal(calls.length, 2);
    const k = (r: IssueCertificateRequest) => r.kind.value!;
    assert.deepEqual(k(calls[0]).kubeletPubkey, k(calls[1]).kubeletPubkey);
    assert.deepEqual(k(calls[0]).netservicesPubkey, k(calls[1]).netservicesPubkey);
    // Three distinct keys.
    assert.notDeepEqual(k(calls[0]).kubeletPubkey, k(calls[0]).csiProvisionerPubkey);
    assert.notDeepEqual(k(calls[0]).kubeletPubkey, k(calls[0]).netservicesPubkey);
    assert.equal(c1.kubeletClient.keyPem, c2.kubeletClient.keyPem);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("worker credentials: files below the output dirs, kubeconfigs pointing at the apiproxy", async () => {
  const { root, dirs } = await scratch();
  try {
    const c = await ensureWorkerCredentials(
      deps(fakeCurator([])),
      AbortSignal.timeout(10_000),
      dirs,
    );
    assert.equal(c.files.kubelet.kubeconfig, `${dirs.out.kubelet}/kubeconfig`);
    for (const f of [c.files.kubelet, c.files.netservices, c.files.csi]) {
      for (const p of Object.values(f)) assert.equal((await Deno.stat(p)).mode! & 0o777, 0o600);
      const kc = JSON.parse(await Deno.readTextFile(f.kubeconfig));
      assert.equal(kc.clusters[0].cluster.server, "https://127.0.0.1:6445");
      assert.equal(atob(kc.clusters[0].cluster["certificate-authority-data"]), c.idCaPem);
      assert.equal(
        atob(kc.users[0].user["client-certificate-data"]),
        await Deno.readTextFile(f.cert),
      );
    }
    const server = parseCertificate(
      pemDecode(await Deno.readTextFile(c.files.kubelet.serverCert), "CERTIFICATE"),
    );
    assert.deepEqual(server.commonNames, ["ks"]);
    const client = parseCertificate(
      pemDecode(await Deno.readTextFile(c.files.kubelet.cert), "CERTIFICATE"),
    );
    assert.deepEqual(client.commonNames, ["system:node:n"]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("worker credentials: a certificate for another key is refused", async () => {
  const { root, dirs } = await scratch();
  try {
    await assert.rejects(
      ensureWorkerCredentials(deps(fakeCurator([], true)), AbortSignal.timeout(10_000), dirs),
      /kubelet server certificate is not for this node's key/,
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
