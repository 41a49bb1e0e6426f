/** Public surface of the supervisor (node.md §4). */
export * from "./supervisor.ts";
export * from "./backoff.ts";
export * from "./names.ts";
export * from "./children.ts";
export * from "./parsers.ts";
export * from "./runcommand.ts";
