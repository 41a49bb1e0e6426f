/**
 * FAT32 writing (ESP and installer medium) and reading (the host looking at a node's ESP).
 * @module
 */
export * from "./fat32.ts";
export * from "./read.ts";
