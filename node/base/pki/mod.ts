/**
 * node/base/pki: OS- and cluster-agnostic X.509 and key handling (node.md §9). Cluster profiles
 * (node, user, ephemeral certificates, node IDs) live in node/core/identity.
 */
export * from "./pem.ts";
export * from "./keys.ts";
export * from "./cert.ts";
export * from "./info.ts";
export * from "./verify.ts";
export * from "./storage.ts";
export * from "./ca.ts";
export { loadX509 } from "./x509.ts";
