/**
 * The node disk layout, defined once in the OS-image contract (`node/base/osimage`); re-exported
 * here for the image builder's importers.
 * @module
 */
import { PARTITION_TYPES } from "../../node/base/osimage/layout.ts";

export { ESP_LABEL, nodePartitions, type PartitionSpec } from "../../node/base/osimage/layout.ts";

/** GPT partition type GUIDs of the node disk (the contract's {@link PARTITION_TYPES}). */
export const TYPE_GUIDS = PARTITION_TYPES;
