/**
 * Test helpers: a fresh in-memory cluster CA and node / user certificates issued by it with the
 * production profiles (node.md §9), for tests of TLS services (RPC, node management, metrics).
 * @module
 */
import { CA, generateEd25519, MemoryPkiStorage, rawPublicKey } from "../../base/pki/mod.ts";
import { nodeId } from "./nodeid.ts";
import { CLUSTER_CA_TEMPLATE, nodeTemplateFor, userTemplate } from "./profiles.ts";

/** A certificate and its private key. */
export interface TestCert {
  certificate: Uint8Array;
  privateKey: CryptoKey;
}

/** A new cluster CA kept in memory. */
export function testCA(): CA {
  return new CA({ storage: new MemoryPkiStorage(), name: "ca", template: CLUSTER_CA_TEMPLATE });
}

/** A node certificate for a new key, with the node ID it names. */
export async function testNodeCert(ca: CA): Promise<TestCert & { id: string }> {
  const k = await generateEd25519();
  const id = nodeId(await rawPublicKey(k.publicKey));
  return {
    id,
    certificate: await ca.ensure(id, await nodeTemplateFor(k.publicKey), k.publicKey),
    privateKey: k.privateKey,
  };
}

/** A user certificate (e.g. `owner`) for a new key. */
export async function testUserCert(ca: CA, name: string): Promise<TestCert> {
  const k = await generateEd25519();
  return {
    certificate: await ca.ensure(name, userTemplate(name), k.publicKey),
    privateKey: k.privateKey,
  };
}
