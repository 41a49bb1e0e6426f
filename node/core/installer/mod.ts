/**
 * The installer mode of the agent (image.md §11).
 * @module
 */
export * from "./devices.ts";
export * from "./install.ts";
export * from "./runnable.ts";
