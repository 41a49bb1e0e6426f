/**
 * FAT32 writing (ESP and installer medium).
 * @module
 */
export * from "./fat32.ts";
