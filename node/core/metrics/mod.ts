/** Public surface of the metrics service (node.md §17). */
export * from "./server.ts";
export * from "./node_exporter.ts";
