/**
 * GPT partition type GUIDs of the node disk (image.md §7). The one definition: the image
 * builder (`os-image/disk/layout.ts`) imports these, and the node finds its partitions by them,
 * so a disk the builder writes is always one the node recognises.
 * @module
 */

/** Partition type GUIDs, lower case in the textual (RFC 4122) form. */
export const PARTITION_TYPES = {
  /** EFI System Partition (UEFI spec). */
  esp: "c12a7328-f81f-11d2-ba4b-00a0c93ec93b",
  /** System slot A (erofs + verity). */
  systemA: "ee96054b-f6d0-4267-aaaa-724b2afea74c",
  /** System slot B. */
  systemB: "ee96054b-f6d0-4267-bbbb-724b2afea74c",
  /** The node data partition (encrypted/authenticated per storage policy). */
  data: "9eeec464-6885-414a-b278-4305c51f7966",
} as const;

/** The name of a known partition type. */
export type PartitionRole = keyof typeof PARTITION_TYPES;
