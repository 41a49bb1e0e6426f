/**
 * Kernel command lines and os-release text embedded in the UKIs, defined once in the OS-image
 * contract (`node/base/osimage`); re-exported here for the image builder's importers.
 * @module
 */
export { installerCmdline, nodeCmdline, osRelease } from "../../node/base/osimage/cmdline.ts";
export { type Slot, systemPartLabel } from "../../node/base/osimage/slots.ts";
