/**
 * node/core/rpc: TLS-terminated grpc-js servers with per-call authentication and authorization,
 * and cluster-aware client credentials (node.md §10).
 */
export * from "./permissions.ts";
export * from "./peers.ts";
export * from "./server.ts";
export * from "./auth.ts";
export * from "./client.ts";
export * from "./servername.ts";
