/**
 * TPM 2.0 client and PCR-7 sealing (node.md §8.4), OS-generic: raw command marshalling over a
 * unix socket (swtpm) or a character device (`/dev/tpmrm0`).
 * @module
 */
export { type Auth, type CreatedObject, pcrSelection, srkTemplate, Tpm } from "./client.ts";
export { HT } from "./constants.ts";
export { rcName, TpmError } from "./rc.ts";
export { parsePcrSelection, seal, SEAL_PCRS, type Sealed, unseal } from "./seal.ts";
export { connectUnix, openDevice, type Transport } from "./transport.ts";
