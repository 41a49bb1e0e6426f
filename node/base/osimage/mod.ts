/**
 * The OS-image contract: the one definition of the node disk, the slots and ESP files, the kernel
 * command lines, the OCI OS-image format and the version, imported by the image build, metroctl,
 * the launcher, the installer and the update service.
 * @module
 */
export * from "./layout.ts";
export * from "./slots.ts";
export * from "./cmdline.ts";
export * from "./ociimage.ts";
export * from "./oci_layout.ts";
export * from "./version.ts";
export * from "./nodedisk.ts";
export * from "./agent.ts";
