/**
 * Node credentials on /data (node.md §8.2): `ca.pem`, `cert.pem`, `cert-key.pem` (PKCS#8
 * `PRIVATE KEY`), mode 0600; and the last known roles.
 */
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  type NodeRoles,
  NodeRolesSchema,
} from "../../../proto/gen/metropolis/proto/common/common_pb.ts";
import { certificatePem } from "../../base/pki/info.ts";
import { exportPkcs8Pem, importPkcs8Pem } from "../../base/pki/keys.ts";
import { pemDecode } from "../../base/pki/pem.ts";
import { writeFileDurable } from "../../base/sys/durable.ts";
import { DATA_PATHS } from "./paths.ts";

/** A node's cluster credentials. */
export interface NodeCredentials {
  caCertificate: Uint8Array;
  certificate: Uint8Array;
  keys: CryptoKeyPair;
}

const enc = new TextEncoder();

/** Writes credentials under `dir` (default /data/node/credentials). */
export async function writeCredentials(
  c: NodeCredentials,
  dir: string = DATA_PATHS.credentials,
): Promise<void> {
  await writeFileDurable(`${dir}/ca.pem`, enc.encode(certificatePem(c.caCertificate)));
  await writeFileDurable(`${dir}/cert.pem`, enc.encode(certificatePem(c.certificate)));
  await writeFileDurable(
    `${dir}/cert-key.pem`,
    enc.encode(await exportPkcs8Pem(c.keys.privateKey)),
  );
}

/** Reads credentials written by {@link writeCredentials}. */
export async function readCredentials(
  dir: string = DATA_PATHS.credentials,
): Promise<NodeCredentials> {
  const rd = (n: string) => Deno.readTextFile(`${dir}/${n}`);
  return {
    caCertificate: pemDecode(await rd("ca.pem"), "CERTIFICATE"),
    certificate: pemDecode(await rd("cert.pem"), "CERTIFICATE"),
    keys: await importPkcs8Pem(await rd("cert-key.pem"), "Ed25519"),
  };
}

/** Persists the last known roles (lets etcd start on a cold cluster, §11.5). */
export async function writeRoles(r: NodeRoles, path: string = DATA_PATHS.roles): Promise<void> {
  await writeFileDurable(path, toBinary(NodeRolesSchema, r));
}

/** Reads the last known roles; undefined when never written. */
export async function readRoles(path: string = DATA_PATHS.roles): Promise<NodeRoles | undefined> {
  try {
    return fromBinary(NodeRolesSchema, await Deno.readFile(path));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
}
