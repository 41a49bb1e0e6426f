/**
 * WireGuard devices configured over generic netlink (libc FFI, the same socket class as
 * rtnetlink): the node has no `wg` binary, and spawning one per change would be slower than the
 * two messages a change takes. The link itself is created with rtnetlink ({@link Rtnl.linkAdd},
 * kind "wireguard").
 * @module
 */
import { NETLINK, Rtnl } from "../net/rtnl.ts";
import {
  type DeviceConfig,
  type DeviceState,
  getDeviceMessage,
  parseDevice,
  setDeviceMessage,
  WG_GENL_NAME,
} from "./codec.ts";
import { GENL_ID_CTRL, getFamilyMessage, parseFamilyId } from "./genl.ts";

/** The message type the kernel assigned to generic netlink family `name` (ENOENT: not loaded). */
export function resolveFamily(nl: Rtnl, name: string): number {
  const reply = nl.query(
    `resolve generic netlink family ${name}`,
    (seq) => getFamilyMessage(seq, name),
    GENL_ID_CTRL,
  );
  const id = parseFamilyId(reply);
  if (id === undefined) throw new Error(`generic netlink family ${name}: reply without an ID`);
  return id;
}

/** A generic netlink socket bound to the "wireguard" family; {@link close} it when done. */
export class WireguardClient {
  readonly #nl: Rtnl;
  readonly #family: number;

  /** Opens the socket and resolves the family; throws NetlinkError ENOENT without WireGuard. */
  constructor() {
    this.#nl = new Rtnl(NETLINK.GENERIC);
    try {
      this.#family = resolveFamily(this.#nl, WG_GENL_NAME);
    } catch (e) {
      this.#nl.close();
      throw e;
    }
  }

  /** The device `ifname` with its peers (ENODEV if there is none). */
  get(ifname: string): DeviceState {
    return parseDevice(
      this.#nl.dump((seq) => getDeviceMessage(seq, this.#family, ifname), this.#family),
    );
  }

  /** Applies `c` to its device. */
  set(c: DeviceConfig): void {
    this.#nl.request(
      `configure WireGuard device ${c.ifname}`,
      (seq) => setDeviceMessage(seq, this.#family, c),
    );
  }

  /** Closes the socket. */
  close(): void {
    this.#nl.close();
  }
}
