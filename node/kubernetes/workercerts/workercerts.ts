/**
 * Worker credentials (kubernetes.md §4): three Ed25519 keys generated once and kept on /data
 * (kubelet, CSI provisioner, netservices), certified by the curator (`IssueCertificate`, signed
 * by id-ca) at every start, and handed to the components as files below /ephemeral: PEMs and
 * kubeconfigs pointing at the apiproxy. Only the keys persist; certificates are re-fetched, so a
 * node never runs on a stale certificate after the cluster re-issued one.
 */
import { create } from "@bufbuild/protobuf";
import {
  Curator,
  IssueCertificateRequestSchema,
} from "../../../proto/gen/metropolis/node/core/curator/proto/api/api_pb.ts";
import {
  certificatePem,
  exportPkcs8Pem,
  generateEd25519,
  importPkcs8Pem,
  parseCertificate,
  rawPublicKey,
} from "../../base/pki/mod.ts";
import { writeTextFileDurable } from "../../base/sys/durable.ts";
import type { WorkerDeps } from "../deps.ts";
import { APIPROXY_LOCAL, DATA, ephemeralDir } from "../paths.ts";
import { renderKubeconfig } from "../pki/kubeconfig.ts";

/** A certificate and its key, PEM. */
export interface CertKeyPem {
  certPem: string;
  keyPem: string;
}

/** Paths of the files written for one identity. */
export interface IdentityFiles {
  ca: string;
  cert: string;
  key: string;
  kubeconfig: string;
}

/** What {@link ensureWorkerCredentials} returns. */
export interface WorkerCredentials {
  /** id-ca (the CA of every Kubernetes identity, and of the apiserver's serving cert). */
  idCaPem: string;
  kubeletServer: CertKeyPem;
  kubeletClient: CertKeyPem;
  netservices: CertKeyPem;
  csi: CertKeyPem;
  files: {
    /** kubelet: `cert`/`key` = client identity; `serverCert` = its serving certificate. */
    kubelet: IdentityFiles & { serverCert: string };
    netservices: IdentityFiles;
    csi: IdentityFiles;
  };
}

/** Where keys are kept and files written; the node's by default (tests use scratch dirs). */
export interface CredentialDirs {
  keys: { kubelet: string; csi: string; netservices: string };
  out: { kubelet: string; csi: string; netservices: string };
}

/** The node's directories (kubernetes.md §4, paths.ts). */
export const NODE_DIRS: CredentialDirs = {
  keys: { kubelet: DATA.kubeletKeys, csi: DATA.csiKeys, netservices: DATA.netservicesKeys },
  out: {
    kubelet: ephemeralDir("kubelet"),
    csi: ephemeralDir("csi"),
    netservices: ephemeralDir("netservices"),
  },
};

/** File name of a kept private key inside its keys directory. */
export const KEY_FILE = "worker-key.pem";

/**
 * Returns the key pair kept in `dir`, generating and storing it (PKCS#8 PEM, mode 0600) on first
 * use. Written to a temporary file and renamed, so a crash never leaves half a key behind.
 */
export async function loadOrCreateKey(dir: string): Promise<CryptoKeyPair> {
  const path = `${dir}/${KEY_FILE}`;
  try {
    return await importPkcs8Pem(await Deno.readTextFile(path), "Ed25519");
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) {
      throw new Error(`worker key ${path}: ${(e as Error).message}`);
    }
  }
  const keys = await generateEd25519();
  await writeTextFileDurable(path, await exportPkcs8Pem(keys.privateKey));
  return keys;
}

async function writePrivate(path: string, text: string): Promise<void> {
  await Deno.writeTextFile(path, text, { mode: 0o600 });
  // writeTextFile's mode applies only to new files.
  await Deno.chmod(path, 0o600);
}

/** Throws unless `der` certifies `publicKey` (a curator answering for another key is a bug). */
async function checkFor(what: string, der: Uint8Array, publicKey: CryptoKey): Promise<string> {
  if (der.length === 0) throw new Error(`IssueCertificate: no ${what} certificate`);
  const info = parseCertificate(der);
  const want = await rawPublicKey(publicKey);
  if (info.publicKey.length !== want.length || info.publicKey.some((b, i) => b !== want[i])) {
    throw new Error(`IssueCertificate: the ${what} certificate is not for this node's key`);
  }
  return certificatePem(der);
}

/**
 * Makes sure the worker's keys exist, has the curator certify them and writes certificates,
 * keys and kubeconfigs (→ {@link APIPROXY_LOCAL}). Throws when the curator cannot be reached
 * or refuses (the worker fails and the supervisor retries).
 */
export async function ensureWorkerCredentials(
  deps: WorkerDeps,
  signal: AbortSignal,
  dirs: CredentialDirs = NODE_DIRS,
): Promise<WorkerCredentials> {
  const kubelet = await loadOrCreateKey(dirs.keys.kubelet);
  const csi = await loadOrCreateKey(dirs.keys.csi);
  const net = await loadOrCreateKey(dirs.keys.netservices);
  const cur = await deps.curator(Curator, signal);
  const res = await cur.issueCertificate(
    create(IssueCertificateRequestSchema, {
      kind: {
        case: "kubernetesWorker",
        value: {
          kubeletPubkey: await rawPublicKey(kubelet.publicKey),
          csiProvisionerPubkey: await rawPublicKey(csi.publicKey),
          netservicesPubkey: await rawPublicKey(net.publicKey),
        },
      },
    }),
    { signal },
  );
  if (res.kind.case !== "kubernetesWorker") {
    throw new Error("IssueCertificate: answer without worker certificates");
  }
  const w = res.kind.value;
  if (w.identityCaCertificate.length === 0) throw new Error("IssueCertificate: no id-ca");
  const idCaPem = certificatePem(w.identityCaCertificate);
  const kubeletKeyPem = await exportPkcs8Pem(kubelet.privateKey);
  const creds: Omit<WorkerCredentials, "files"> = {
    idCaPem,
    kubeletServer: {
      certPem: await checkFor("kubelet server", w.kubeletServerCertificate, kubelet.publicKey),
      keyPem: kubeletKeyPem,
    },
    kubeletClient: {
      certPem: await checkFor("kubelet client", w.kubeletClientCertificate, kubelet.publicKey),
      keyPem: kubeletKeyPem,
    },
    netservices: {
      certPem: await checkFor("netservices", w.netservicesCertificate, net.publicKey),
      keyPem: await exportPkcs8Pem(net.privateKey),
    },
    csi: {
      certPem: await checkFor("CSI provisioner", w.csiProvisionerCertificate, csi.publicKey),
      keyPem: await exportPkcs8Pem(csi.privateKey),
    },
  };
  const write = async (dir: string, id: CertKeyPem): Promise<IdentityFiles> => {
    await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
    const f = {
      ca: `${dir}/ca.pem`,
      cert: `${dir}/cert.pem`,
      key: `${dir}/key.pem`,
      kubeconfig: `${dir}/kubeconfig`,
    };
    await writePrivate(f.ca, idCaPem);
    await writePrivate(f.cert, id.certPem);
    await writePrivate(f.key, id.keyPem);
    await writePrivate(
      f.kubeconfig,
      renderKubeconfig({ server: APIPROXY_LOCAL, caPem: idCaPem, ...id }),
    );
    return f;
  };
  const kubeletFiles = await write(dirs.out.kubelet, creds.kubeletClient);
  const serverCert = `${dirs.out.kubelet}/server.pem`;
  await writePrivate(serverCert, creds.kubeletServer.certPem);
  return {
    ...creds,
    files: {
      kubelet: { ...kubeletFiles, serverCert },
      netservices: await write(dirs.out.netservices, creds.netservices),
      csi: await write(dirs.out.csi, creds.csi),
    },
  };
}
