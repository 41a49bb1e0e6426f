/** SOCKS5 client (RFC 1928, CONNECT, no authentication) over node:net. */
import net from "node:net";
import { Buffer } from "node:buffer";
import {
  ATYP,
  CMD_CONNECT,
  type Destination,
  encodeAddress,
  METHOD_NONE,
  REPLY,
  replyText,
  VERSION,
} from "./protocol.ts";
import { HandshakeReader } from "./reader.ts";

/** A CONNECT refused by the proxy; `reply` is the SOCKS reply code. */
export class SocksError extends Error {
  /** `reply`: RFC 1928 reply code (e.g. 5 = connection refused). */
  constructor(readonly reply: number, message: string) {
    super(message);
    this.name = "SocksError";
  }
}

/**
 * Connects to `target` through the SOCKS5 proxy at `proxy`. Resolves with the socket once the
 * proxy reports success (paused: `pipe()` it or call `resume()`). Rejects with {@link SocksError} naming the
 * target and the proxy's reason, or with the transport error.
 */
export async function socks5Connect(
  proxy: Destination,
  target: Destination,
  timeoutMs = 10_000,
): Promise<net.Socket> {
  const sock = await new Promise<net.Socket>((resolve, reject) => {
    const s = net.connect({ host: proxy.host, port: proxy.port });
    s.once("connect", () => {
      s.off("error", reject);
      resolve(s);
    });
    s.once(
      "error",
      (e) =>
        reject(new Error(`socks: cannot reach proxy ${proxy.host}:${proxy.port}: ${e.message}`)),
    );
  });
  const timer = setTimeout(() => sock.destroy(new Error("socks: handshake timed out")), timeoutMs);
  const r = new HandshakeReader(sock);
  try {
    sock.write(Buffer.from([VERSION, 1, METHOD_NONE]));
    const [ver, method] = await r.read(2);
    if (ver !== VERSION || method !== METHOD_NONE) {
      throw new SocksError(REPLY.NOT_ALLOWED, "socks: proxy requires authentication");
    }
    sock.write(Buffer.concat([Buffer.from([VERSION, CMD_CONNECT, 0]), encodeAddress(target)]));
    const [v2, rep, , atyp] = await r.read(4);
    if (v2 !== VERSION) throw new Error(`socks: proxy answered version ${v2}`);
    if (rep !== REPLY.SUCCEEDED) {
      throw new SocksError(
        rep,
        `socks: proxy refused CONNECT to ${target.host}:${target.port}: ${replyText(rep)}`,
      );
    }
    if (atyp === ATYP.IPV4) await r.read(4 + 2);
    else if (atyp === ATYP.IPV6) await r.read(16 + 2);
    else if (atyp === ATYP.DOMAIN) await r.read((await r.read(1))[0] + 2);
    else throw new Error(`socks: proxy answered address type ${atyp}`);
  } catch (e) {
    clearTimeout(timer);
    r.release();
    sock.destroy();
    throw e;
  }
  clearTimeout(timer);
  const rest = r.release();
  if (rest.length) sock.unshift(rest);
  return sock;
}
