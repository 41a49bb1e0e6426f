/**
 * A throwaway Kubernetes PKI for the smoke test, written as PEM files: id-ca and
 * aggregation-ca with the profiles of node/core/curator/kubepki.ts, etcd serving/client certificates
 * from the same CA (a stand-in for the consensus PKI), and the RSA service-account key.
 */
import {
  certificatePem,
  exportPkcs8Pem,
  exportSpki,
  generateEd25519,
  generateRsa2048,
  issueCertificate,
  pemEncode,
  type Signer,
} from "../../../node/base/pki/mod.ts";
import type { CertTemplate } from "../../../node/base/pki/mod.ts";
import {
  apiserverServing,
  CONTROLLER_PROFILES,
  KUBE_AGGREGATION_CA_TEMPLATE,
  KUBE_ID_CA_TEMPLATE,
  workerTemplates,
} from "../../../node/core/curator/kubepki.ts";

const PROFILES = Object.fromEntries(
  Object.entries(CONTROLLER_PROFILES).map(([name, p]) => [name, p.template]),
) as Record<keyof typeof CONTROLLER_PROFILES, CertTemplate>;

/** Paths of one issued certificate and its key. */
export interface CertFiles {
  cert: string;
  key: string;
}

/** All files of the smoke PKI. */
export interface SmokePki {
  ca: string;
  aggregationCa: string;
  saKey: string;
  saPub: string;
  certs: Record<string, CertFiles>;
  /** PEMs the test client uses directly (master identity). */
  caPem: string;
  masterPem: { cert: string; key: string };
}

async function write(path: string, text: string) {
  await Deno.writeTextFile(path, text, { mode: 0o600 });
}

async function makeCa(template: CertTemplate): Promise<Signer> {
  const keys = await generateEd25519();
  const certificate = await issueCertificate(template, keys.publicKey, { selfSigned: keys });
  return { certificate, privateKey: keys.privateKey };
}

/** Issues every certificate the smoke node needs into `dir`. */
export async function makeSmokePki(
  dir: string,
  nodeName: string,
  nodeIp: string,
): Promise<SmokePki> {
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  const idCa = await makeCa(KUBE_ID_CA_TEMPLATE);
  const aggCa = await makeCa(KUBE_AGGREGATION_CA_TEMPLATE);
  const etcdServer: CertTemplate = {
    dnsNames: ["localhost"],
    ipAddresses: ["127.0.0.1"],
    keyUsage: ["digitalSignature"],
    // etcd's gRPC gateway dials etcd itself with its serving certificate.
    extKeyUsage: ["serverAuth", "clientAuth"],
    isCA: false,
  };
  const plan: [string, CertTemplate, Signer][] = [
    ["etcd-server", etcdServer, idCa],
    ["etcd-client", {
      ...PROFILES["master"],
      commonName: "apiserver-etcd-client",
      organization: [],
    }, idCa],
    ["apiserver", apiserverServing([nodeIp]), idCa],
    ["apiserver-kubelet-client", PROFILES["apiserver-kubelet-client"], idCa],
    ["controller-manager-client", PROFILES["controller-manager-client"], idCa],
    ["controller-manager", PROFILES["controller-manager"], idCa],
    ["scheduler-client", PROFILES["scheduler-client"], idCa],
    ["scheduler", PROFILES["scheduler"], idCa],
    ["master", PROFILES["master"], idCa],
    ["front-proxy-client", PROFILES["front-proxy-client"], aggCa],
    ["kubelet-server", workerTemplates(nodeName).kubeletServer, idCa],
    ["kubelet-client", workerTemplates(nodeName).kubeletClient, idCa],
  ];
  const certs: Record<string, CertFiles> = {};
  const pems: Record<string, { cert: string; key: string }> = {};
  for (const [name, template, signer] of plan) {
    const keys = await generateEd25519();
    const der = await issueCertificate(template, keys.publicKey, signer);
    pems[name] = { cert: certificatePem(der), key: await exportPkcs8Pem(keys.privateKey) };
    certs[name] = { cert: `${dir}/${name}.crt`, key: `${dir}/${name}.key` };
    await write(certs[name].cert, pems[name].cert);
    await write(certs[name].key, pems[name].key);
  }
  const caPem = certificatePem(idCa.certificate);
  await write(`${dir}/id-ca.crt`, caPem);
  await write(`${dir}/aggregation-ca.crt`, certificatePem(aggCa.certificate));
  const sa = await generateRsa2048();
  await write(`${dir}/service-account.key`, await exportPkcs8Pem(sa.privateKey));
  await write(
    `${dir}/service-account.pub`,
    pemEncode("PUBLIC KEY", await exportSpki(sa.publicKey)),
  );
  return {
    ca: `${dir}/id-ca.crt`,
    aggregationCa: `${dir}/aggregation-ca.crt`,
    saKey: `${dir}/service-account.key`,
    saPub: `${dir}/service-account.pub`,
    certs,
    caPem,
    masterPem: pems["master"],
  };
}
