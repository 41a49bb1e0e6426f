/**
 * Read options and log readers (node.md §5): a backlog selected at read time plus an optional
 * stream of live entries through a bounded buffer that drops (and counts) instead of blocking.
 */
import { isAtOrBelow } from "./dn.ts";
import { type LogEntry, type Severity, severityAtLeast } from "./entry.ts";

/** Entries buffered per live reader before new ones are dropped. */
export const READER_BUFFER = 128;

/** How a read is done. Defaults: no backlog, no stream, only the DN itself, both kinds. */
export interface ReadOptions {
  /** `"none"` (default), `"all"`, or the last N entries (N ≥ 1) of the selection in time order. */
  backlog?: "none" | "all" | number;
  /** Deliver live entries written after the read started. */
  stream?: boolean;
  /** Select the DN and everything below it, not just the DN. */
  withChildren?: boolean;
  /** Only raw entries. */
  onlyRaw?: boolean;
  /** Only leveled entries (together with `onlyRaw` is an error). */
  onlyLeveled?: boolean;
  /** Only leveled entries with at least this severity (raw entries are dropped). */
  minSeverity?: Severity;
}

/** Returns why `opts` is invalid, or undefined. */
export function readOptionsError(opts: ReadOptions): string | undefined {
  if (opts.onlyRaw && opts.onlyLeveled) return "read options: onlyRaw and onlyLeveled together";
  const b = opts.backlog;
  if (b !== undefined && b !== "none" && b !== "all") {
    if (typeof b !== "number" || !Number.isInteger(b) || b < 1) {
      return `read options: backlog must be "none", "all" or an integer >= 1, got ${String(b)}`;
    }
  }
  return undefined;
}

/** A compiled selection: DN scope plus kind/severity filter. */
export class Selection {
  constructor(readonly dn: string, readonly opts: ReadOptions) {}

  /** True when the entry's DN lies in the selection. */
  coversDN(dn: string): boolean {
    return this.opts.withChildren ? isAtOrBelow(dn, this.dn) : dn === this.dn;
  }

  /** True when the entry passes the kind and severity filters. */
  passes(e: LogEntry): boolean {
    if (this.opts.onlyRaw && !e.raw) return false;
    if (this.opts.onlyLeveled && !e.leveled) return false;
    if (this.opts.minSeverity) {
      if (!e.leveled) return false;
      if (!severityAtLeast(e.leveled.severity, this.opts.minSeverity)) return false;
    }
    return true;
  }

  /** Both checks. */
  matches(e: LogEntry): boolean {
    return this.coversDN(e.dn) && this.passes(e);
  }
}

/**
 * The result of a read. `backlog` is fixed at read time; when streaming, iterate the reader (or
 * call `next`) for live entries. Always `close()` a streaming reader when done.
 */
export class LogReader implements AsyncIterable<LogEntry> {
  #buf: LogEntry[] = [];
  #missed = 0;
  #closed = false;
  #wake?: () => void;

  constructor(
    /** Entries selected at read time, oldest first. */
    readonly backlog: LogEntry[],
    readonly streaming: boolean,
    private readonly onClose: (r: LogReader) => void,
  ) {
    if (!streaming) this.#closed = true;
  }

  /** Entries dropped because the live buffer was full. */
  get missed(): number {
    return this.#missed;
  }

  /** Entries currently waiting in the live buffer. */
  get buffered(): number {
    return this.#buf.length;
  }

  /** Called by the tree for every matching live entry; never blocks. */
  deliver(e: LogEntry): void {
    if (this.#closed) return;
    if (this.#buf.length >= READER_BUFFER) {
      this.#missed++;
      return;
    }
    this.#buf.push(e);
    this.#wake?.();
  }

  /** Next live entry, or undefined once closed (or aborted through `signal`). */
  async next(signal?: AbortSignal): Promise<LogEntry | undefined> {
    for (;;) {
      const e = this.#buf.shift();
      if (e) return e;
      if (this.#closed || signal?.aborted) return undefined;
      await new Promise<void>((resolve) => {
        const done = () => {
          this.#wake = undefined;
          signal?.removeEventListener("abort", done);
          resolve();
        };
        this.#wake = done;
        signal?.addEventListener("abort", done, { once: true });
      });
    }
  }

  /** Stops the stream; pending `next` calls return undefined after the buffered entries. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.onClose(this);
    this.#wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<LogEntry> {
    try {
      for (;;) {
        const e = await this.next();
        if (!e) return;
        yield e;
      }
    } finally {
      this.close();
    }
  }
}
