/** Public surface of node/base/event. */
export * from "./value.ts";
