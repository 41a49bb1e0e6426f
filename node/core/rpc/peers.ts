/**
 * Client certificates captured at the TLS handshake, keyed like grpc-js's `call.getPeer()`
 * (`${remoteAddress}:${remotePort}`, IPv6 without brackets). grpc-js hides certificates of peers
 * that were not CA-verified (workplace notes §3), so the TLS terminator records them here.
 */

/** The certificates one connection's client presented (DER, leaf first; empty: none). */
export interface PeerCertificates {
  readonly certificates: readonly Uint8Array[];
}

/** Peer key of a socket, equal to what grpc-js returns from `call.getPeer()`. */
export function peerKey(remoteAddress: string | undefined, remotePort: number | undefined): string {
  if (!remoteAddress) return "unknown";
  return remotePort ? `${remoteAddress}:${remotePort}` : remoteAddress;
}

/** A map of live connections to their certificates. */
export class PeerTable {
  readonly #peers = new Map<string, PeerCertificates>();

  /** Records `entry` for `key`; returns a function removing it again (only if still current). */
  add(key: string, entry: PeerCertificates): () => void {
    this.#peers.set(key, entry);
    return () => {
      if (this.#peers.get(key) === entry) this.#peers.delete(key);
    };
  }

  /** The entry of the connection `peer` (a `call.getPeer()` value), undefined when unknown. */
  get(peer: string): PeerCertificates | undefined {
    return this.#peers.get(peer);
  }

  /** Number of live connections (for tests and metrics). */
  get size(): number {
    return this.#peers.size;
  }
}

/** Deno's native TLS handle, which can hand out the peer's certificates as sent (DER). */
interface RawChainHandle {
  getPeerCertificateChain?: () => { certificates?: readonly Uint8Array[] } | null | undefined;
}

/**
 * The certificates the client of `socket` sent (DER, leaf first; empty: none). Deno's TLS handle
 * returns them as they arrived in ≈ 1 µs; `getPeerCertificate(true)` first parses each into
 * Node's legacy object (≈ 40 µs, ≈ 100 µs on a leader accepting hundreds of nodes a second),
 * only for us to take its `raw` bytes back out. The handle's method is internal to Deno, so
 * without it the public call is used (same result, tested).
 */
export function peerChain(socket: {
  _handle?: unknown;
  getPeerCertificate(detailed: true): unknown;
}): Uint8Array[] {
  const raw = (socket._handle as RawChainHandle | null | undefined)?.getPeerCertificateChain;
  if (typeof raw === "function") {
    const chain = raw.call(socket._handle)?.certificates;
    // Without certificates it answers null; the public call then has nothing to parse either.
    // Each certificate comes in its own new buffer, kept as it is (no copy per connection).
    if (Array.isArray(chain)) {
      return chain.map((c) => c instanceof Uint8Array ? c : new Uint8Array(c));
    }
  }
  return chainFromPeerCertificate(socket.getPeerCertificate(true));
}

/**
 * Extracts the certificates a TLS peer sent from `getPeerCertificate(true)`: the leaf and each
 * `issuerCertificate` link, stopping at a self-reference (Node's marker for the chain's end).
 */
export function chainFromPeerCertificate(
  // deno-lint-ignore no-explicit-any
  peer: any,
): Uint8Array[] {
  const out: Uint8Array[] = [];
  const seen = new Set<unknown>();
  let c = peer;
  while (c && c.raw && c.raw.length && !seen.has(c)) {
    seen.add(c);
    out.push(new Uint8Array(c.raw));
    c = c.issuerCertificate;
  }
  return out;
}
