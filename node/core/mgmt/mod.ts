/** node/core/mgmt: the node management service on port 7839 (node.md §14). */
export * from "./logs.ts";
export * from "./reboot.ts";
export * from "./server.ts";
