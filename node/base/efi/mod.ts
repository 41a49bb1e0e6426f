/**
 * EFI variables and boot entries (efivarfs).
 * @module
 */
export * from "./devicepath.ts";
export * from "./loadoption.ts";
export * from "./immutable.ts";
export * from "./efivarfs.ts";
export * from "./boot.ts";
