/**
 * The one place that handles Deno's refusal of IP addresses as TLS servername (workplace notes
 * §3): grpc-js (and etcd3) pass `servername: <target host>`, and Deno's `node:tls` throws
 * `ERR_INVALID_ARG_VALUE` for an IP literal where Node only warns.
 *
 * Decision: wrap `tls.connect` once per process and drop `servername` when it is an IP literal.
 * - RFC 6066 forbids IP literals in SNI; Go (upstream) sends no SNI for them either, so the wire
 *   behaviour becomes upstream's.
 * - It covers every client in the process (grpc-js without a known node ID, CA TOFU, etcd3), where
 *   `grpc.ssl_target_name_override` needs a DNS name that is not always known (seed endpoints).
 * - Certificate checks are unchanged: `checkServerIdentity` still receives the host, so an IP SAN
 *   is still verified for callers relying on the default check.
 * When the node ID is known, dial helpers still set `grpc.ssl_target_name_override` = node ID, but
 * for identity (SNI = node ID as upstream's resolver sends), not for this quirk.
 */
import tls from "node:tls";
import net from "node:net";

const MARK = Symbol.for("metropolis.rpc.ipServernameFix");

/** Installs the wrapper (idempotent). Returns true when this call installed it. */
export function installIpServernameFix(): boolean {
  // deno-lint-ignore no-explicit-any
  const mod = tls as any;
  if (mod.connect[MARK]) return false;
  const original = mod.connect;
  // deno-lint-ignore no-explicit-any
  const wrapped = function (this: unknown, ...args: any[]) {
    for (const a of args) {
      if (
        a && typeof a === "object" && typeof a.servername === "string" && net.isIP(a.servername)
      ) {
        a.servername = undefined;
        delete a.servername;
      }
    }
    return original.apply(this, args);
  };
  // deno-lint-ignore no-explicit-any
  (wrapped as any)[MARK] = true;
  mod.connect = wrapped;
  return true;
}
