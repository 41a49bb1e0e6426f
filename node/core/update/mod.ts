/**
 * A/B updates (node.md §16).
 * @module
 */
export * from "./plan.ts";
export * from "./install.ts";
export * from "./slotboot.ts";
export * from "./service.ts";
export * from "./node.ts";
