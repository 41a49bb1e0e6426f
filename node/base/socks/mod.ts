/** node/base/socks: SOCKS5 (RFC 1928, CONNECT, no auth) server, client and loopback relay. */
export * from "./protocol.ts";
export * from "./server.ts";
export * from "./client.ts";
export * from "./relay.ts";
