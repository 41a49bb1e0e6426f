/**
 * `deno task bench <name> [options]`: runs one benchmark of testing.md §5. Each prints a human
 * line and a JSON line per measured value on stdout; progress goes to stderr.
 */
import { all } from "./all.ts";
import { celbomb } from "./celbomb.ts";
import { coldstart } from "./coldstart.ts";
import { crash } from "./crash.ts";
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
  crash,
  rss,
  flood,
  celbomb,
  coldstart,
  kubernetes,
  all: (args) => all(args, BENCHES),
};

if (import.meta.main) {
  const [name, ...rest] = Deno.args;
  const usage = `usage: deno task bench <${Object.keys(BENCHES).join("|")}> [options]\n` +
    "Each bench's options and what it compares: docs/benchmarks.md and the header of " +
    "e2e/bench/<name>.ts.";
  if (name === "--help" || name === "-h") {
    console.log(usage);
    Deno.exit(0);
  }
  const bench = name ? BENCHES[name] : undefined;
  if (!bench) {
    console.error(usage + (name ? `\nerror: unknown bench "${name}"` : ""));
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
