/**
 * The node's external address (node.md §15): the IPv4 address of the interface holding the
 * default route, else the only non-loopback IPv4 address. Read from the kernel's interface list
 * every second and whenever the network service changed something (`wake`), and published to
 * statuspush, hostsfile and the curator.
 */
import type { Value } from "../../base/event/value.ts";
import { type Context, signal } from "../../base/supervisor/supervisor.ts";

function defaultRouteInterface(): string | undefined {
  try {
    for (const l of Deno.readTextFileSync("/proc/net/route").split("\n").slice(1)) {
      const f = l.trim().split(/\s+/);
      if (f.length > 2 && f[1] === "00000000") return f[0];
    }
  } catch { /* no /proc/net/route */ }
  return undefined;
}

/** Picks the external address from the interface list. */
export function externalAddress(
  ifaces: Deno.NetworkInterfaceInfo[],
  defaultIface: string | undefined,
): string | undefined {
  const v4 = ifaces.filter((i) => i.family === "IPv4" && !i.address.startsWith("127."));
  return (v4.find((i) => i.name === defaultIface) ?? v4[0])?.address;
}

/**
 * Runnable publishing the external address into `address` (checks every second, and at once
 * when `wake` dispatches an event).
 */
export function addressWatcher(address: Value<string | undefined>, wake?: EventTarget) {
  return async (ctx: Context): Promise<void> => {
    signal(ctx, "healthy");
    let last: string | undefined = "<unset>";
    while (!ctx.signal.aborted) {
      const a = externalAddress(Deno.networkInterfaces(), defaultRouteInterface());
      if (a !== last) {
        ctx.logger.info(a ? `external address: ${a}` : "no external address");
        address.set(a);
        last = a;
      }
      await new Promise<void>((r) => {
        const done = () => {
          clearTimeout(t);
          ctx.signal.removeEventListener("abort", done);
          wake?.removeEventListener("change", done);
          r();
        };
        const t = setTimeout(done, 1000);
        ctx.signal.addEventListener("abort", done, { once: true });
        wake?.addEventListener("change", done, { once: true });
      });
    }
  };
}
