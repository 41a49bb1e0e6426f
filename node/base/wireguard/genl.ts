/**
 * Generic netlink framing (pure, no I/O), as in `<linux/genetlink.h>`: every message is a netlink
 * header, the 4-byte `genlmsghdr` (command, version, reserved) and attributes. A family's message
 * type is a number the kernel assigns at registration, so it is looked up by name through the
 * built-in controller family (`nlctrl`, type 0x10) first.
 * @module
 */
import { type Attr, buildMessage, decodeAttrs, NLM_F } from "../net/netlink.ts";

/** Message type of the generic netlink controller. */
export const GENL_ID_CTRL = 0x10;
/** Controller command resolving a family name. */
export const CTRL_CMD_GETFAMILY = 3;
/** Controller attributes used here. */
export const CTRL_ATTR = { FAMILY_ID: 1, FAMILY_NAME: 2 } as const;
/** Length of `genlmsghdr`. */
export const GENL_HDRLEN = 4;

/** `genlmsghdr`: command, version, two reserved bytes. */
export function genlmsghdr(cmd: number, version: number): Uint8Array {
  return new Uint8Array([cmd, version, 0, 0]);
}

/** One generic netlink message of family `type`. */
export function genlMessage(
  type: number,
  flags: number,
  seq: number,
  cmd: number,
  version: number,
  attrs: Attr[],
): Uint8Array {
  return buildMessage(type, flags, seq, genlmsghdr(cmd, version), attrs);
}

/** `CTRL_CMD_GETFAMILY` for `name` (answered by one controller message, then the ACK). */
export function getFamilyMessage(seq: number, name: string): Uint8Array {
  return genlMessage(
    GENL_ID_CTRL,
    NLM_F.REQUEST | NLM_F.ACK,
    seq,
    CTRL_CMD_GETFAMILY,
    1,
    [{ type: CTRL_ATTR.FAMILY_NAME, data: new TextEncoder().encode(name + "\0") }],
  );
}

/** The family ID in a controller reply payload (after the netlink header); undefined if absent. */
export function parseFamilyId(payload: Uint8Array): number | undefined {
  const id = decodeAttrs(payload.subarray(GENL_HDRLEN)).get(CTRL_ATTR.FAMILY_ID);
  if (!id || id.length < 2) return undefined;
  return new DataView(id.buffer, id.byteOffset, 2).getUint16(0, true);
}
