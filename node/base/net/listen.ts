/**
 * Binding a `node:net`/`node:tls` server on all addresses: `::` (dual stack) first, and where
 * IPv6 is disabled (some network namespaces: EAFNOSUPPORT or EADDRNOTAVAIL) `0.0.0.0` instead.
 */
import type net from "node:net";

/** Listens on `host:port` (port 0: any free port); returns the bound port. */
export async function listenDualStack(
  server: net.Server,
  port: number,
  host = "::",
): Promise<number> {
  const bind = (h: string) =>
    new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, h, () => {
        server.off("error", reject);
        resolve();
      });
    });
  try {
    await bind(host);
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (host !== "::" || (code !== "EAFNOSUPPORT" && code !== "EADDRNOTAVAIL")) throw e;
    await bind("0.0.0.0");
  }
  return (server.address() as net.AddressInfo).port;
}
