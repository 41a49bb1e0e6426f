/**
 * An in-memory {@link WireguardLink} for the clusternet tests: derives the public key like the
 * kernel does, keeps peers in a map, records whether the interface exists.
 * @module
 */
import { publicKeyOf } from "../../base/wireguard/key.ts";
import type { WgPeer } from "./peers.ts";
import type { WireguardLink } from "./wglink.ts";

/** The fake interface. */
export class MemWireguard implements WireguardLink {
  /** Whether the interface exists. */
  up = false;
  /** Private key it was created with. */
  privateKey = "";
  /** Number of create calls. */
  creates = 0;
  /** When set, create reports this public key instead of the derived one. */
  forcedKey?: string;
  readonly #peers = new Map<string, WgPeer>();

  async create(privateKey: string): Promise<string> {
    this.#peers.clear();
    this.up = true;
    this.creates++;
    this.privateKey = privateKey;
    return this.forcedKey ?? await publicKeyOf(privateKey);
  }
  peers(): WgPeer[] {
    if (!this.up) throw new Error("no interface");
    return [...this.#peers.values()];
  }
  apply(set: WgPeer[], remove: string[]): void {
    if (!this.up) throw new Error("no interface");
    for (const k of remove) this.#peers.delete(k);
    for (const p of set) this.#peers.set(p.publicKey, p);
  }
  destroy(): void {
    this.up = false;
    this.#peers.clear();
  }
  /** `endpoint allowed,ips` per peer, sorted. */
  get list(): string[] {
    return [...this.#peers.values()].map((p) => `${p.endpoint} ${p.allowedIps.join(",")}`).sort();
  }
}
