/** Public surface of the log tree (node.md §5). */
export * from "./dn.ts";
export * from "./entry.ts";
export * from "./format.ts";
export * from "./logger.ts";
export * from "./linesplitter.ts";
export * from "./reader.ts";
export * from "./logtree.ts";
export * from "./console.ts";
