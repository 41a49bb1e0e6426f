/**
 * Console output (node.md §5): concise lines of every leveled entry (severity ≥ INFO, i.e. all)
 * plus raw lines of `root.kernel`, streamed from a live reader until aborted.
 */
import type { LogEntry } from "./entry.ts";
import { formatConcise } from "./format.ts";
import type { LogTree } from "./logtree.ts";

/** DNs whose raw lines are shown on consoles. */
export const CONSOLE_RAW_DNS: ReadonlySet<string> = new Set(["root.kernel"]);

/** True when `e` belongs on a console. */
export function showOnConsole(e: LogEntry): boolean {
  return !!e.leveled || (!!e.raw && CONSOLE_RAW_DNS.has(e.dn));
}

/** Options of {@link runConsole}. */
export interface ConsoleOptions {
  /** Terminal width for the concise format (default 80). */
  width?: number;
  /** Also print entries written before the console started (default true). */
  backlog?: boolean;
  /** Stops the console. */
  signal?: AbortSignal;
}

/**
 * Writes concise console lines of `tree` to `sink` (one call per entry, lines joined by `\n`,
 * newline-terminated) until `signal` aborts. Entries dropped by a slow sink are reported as one
 * line `... N log entries dropped`.
 */
export async function runConsole(
  tree: LogTree,
  sink: (text: string) => void | Promise<void>,
  opts: ConsoleOptions = {},
): Promise<void> {
  const r = tree.read("", {
    withChildren: true,
    stream: true,
    backlog: opts.backlog === false ? "none" : "all",
  });
  let reported = 0;
  try {
    for (const e of r.backlog) {
      if (showOnConsole(e)) await sink(formatConcise(e, opts.width).join("\n") + "\n");
    }
    for (;;) {
      const e = await r.next(opts.signal);
      if (!e) return;
      if (r.missed > reported) {
        await sink(`... ${r.missed - reported} log entries dropped\n`);
        reported = r.missed;
      }
      if (showOnConsole(e)) await sink(formatConcise(e, opts.width).join("\n") + "\n");
    }
  } finally {
    r.close();
  }
}
