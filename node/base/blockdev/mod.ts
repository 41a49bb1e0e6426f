/**
 * Block devices: GPT reading and the node disk's partition type GUIDs.
 * @module
 */
export * from "./parttypes.ts";
export * from "./guid.ts";
export * from "./crc32.ts";
export * from "./gpt.ts";
export * from "./gpt_write.ts";
