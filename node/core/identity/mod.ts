/** node/core/identity: node IDs, cluster certificate profiles and peer verification (node.md §9). */
export * from "./nodeid.ts";
export * from "./profiles.ts";
export * from "./verify.ts";
