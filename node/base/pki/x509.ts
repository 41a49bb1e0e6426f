/**
 * The one place that loads @peculiar/x509 and binds it to Deno's native WebCrypto. Loaded on first
 * use: the library and its ASN.1 schemas cost every process that evaluates them a few MB of V8
 * heap, and a node without roles never needs them (it reads certificates with der.ts and writes
 * its ephemeral certificate with selfsigned.ts; testing.md §5 `rss`). Issuing with a CA,
 * CRLs and non-Ed25519 signatures load it.
 */
import type * as X509 from "@peculiar/x509";

let loaded: Promise<typeof X509> | undefined;

/** @peculiar/x509 with its crypto provider set. */
export function loadX509(): Promise<typeof X509> {
  return loaded ??= import("@peculiar/x509").then((x509) => {
    x509.cryptoProvider.set(crypto);
    return x509;
  });
}
