/**
 * `deno task bench <name> [options]`: runs one benchmark of testing.md §5. Each prints a human
 * line and a JSON line per measured value on stdout; progress goes to stderr.
 */
import { all } from "./all.ts";
import { celbomb } from "./celbomb.ts";
import { coldstart } from "./coldstart.ts";
import { getnodes } from "./getnodes.ts";
import { heartbeats } from "./heartbeats.ts";
import { flood } from "./flood.ts";
import { formation } from "./formation.ts";
import { kubernetes } from "./kubernetes.ts";
import { rss } from "./rss.ts";

/** The benchmarks by name. */
export const BENCHES: Record<string, (args: string[]) => Promise<void>> = {
  getnodes,
  heartbeats,
  formation,
  rss,
  flood,
  celbomb,
  coldstart,
  kubernetes,
  all: (args) => all(args, BENCHES),
};

if (import.meta.main) {
  const [name, ...rest] = Deno.args;
  const bench = name ? BENCHES[name] : undefined;
  if (!bench) {
    console.error(
      `usage: deno task bench <${Object.keys(BENCHES).join("|")}> [options]` +
        (name ? `\nerror: unknown bench "${name}"` : ""),
    );
    Deno.exit(2);
  }
  try {
    await bench(rest);
  } catch (e) {
    console.error(`bench ${name}: ${(e as Error).message}`);
    Deno.exit(1);
  }
  // grpc-js keepalive timers would keep the process alive.
  Deno.exit(0);
}
