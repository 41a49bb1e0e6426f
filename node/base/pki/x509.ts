/**
 * The one place that loads @peculiar/x509 and binds it to Deno's native WebCrypto. Every module of
 * node/base/pki imports the library from here so the provider is always set before use.
 */
import * as x509 from "@peculiar/x509";

x509.cryptoProvider.set(crypto);

export { x509 };
