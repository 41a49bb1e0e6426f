/**
 * The log tree: a DN-keyed in-memory journal of leveled and raw entries with per-DN retention,
 * backlog reads and live readers (node.md §5).
 */
import { childDN, type DN, validateDN } from "./dn.ts";
import { type LogEntry, nowUs, RAW_LINE_MAX_BYTES, type Severity } from "./entry.ts";
import { callerLocation, formatArgs, type LeveledLogger, type LogOptions } from "./logger.ts";
import { decodeCut, LineSplitter } from "./linesplitter.ts";
import { LogReader, type ReadOptions, readOptionsError, Selection } from "./reader.ts";

/** Entries kept per DN. */
export const RETENTION_PER_DN = 8192;

/** Fixed-capacity ring of the newest entries of one DN. */
class Ring {
  #items: LogEntry[] = [];
  #start = 0;
  constructor(readonly cap: number) {}
  push(e: LogEntry) {
    if (this.#items.length < this.cap) this.#items.push(e);
    else {
      this.#items[this.#start] = e;
      this.#start = (this.#start + 1) % this.cap;
    }
  }
  /** Oldest first. */
  all(): LogEntry[] {
    return this.#items.slice(this.#start).concat(this.#items.slice(0, this.#start));
  }
  get size() {
    return this.#items.length;
  }
}

/** Options of a {@link LogTree}. */
export interface LogTreeOptions {
  /** Entries kept per DN (default {@link RETENTION_PER_DN}). */
  retention?: number;
  /** Clock in µs since the epoch (default: the real clock). */
  now?: () => number;
}

/** Writes a byte stream into raw entries of one DN, one entry per line. */
export interface RawLineWriter {
  /** Feeds bytes or text; complete lines become raw entries immediately. */
  write(chunk: Uint8Array | string): void;
  /** Writes a pending partial line, if any. */
  flush(): void;
  /** A WritableStream view, e.g. for `child.stdout.pipeTo(...)`; closing it flushes. */
  writable(): WritableStream<Uint8Array>;
}

/** A DN-keyed journal. One instance per agent (tests create their own). */
export class LogTree {
  #byDN = new Map<DN, Ring>();
  #readers = new Set<{ sel: Selection; reader: LogReader }>();
  #seq = 0;
  readonly #retention: number;
  readonly #now: () => number;

  constructor(opts: LogTreeOptions = {}) {
    this.#retention = opts.retention ?? RETENTION_PER_DN;
    this.#now = opts.now ?? nowUs;
  }

  /** Appends a leveled entry to `dn`. `message` is split at `\n` into the entry's lines. */
  logLeveled(dn: DN, severity: Severity, message: string, opts: LogOptions = {}): void {
    this.#append({
      dn: this.#writable(dn),
      seq: 0,
      leveled: {
        lines: message.split("\n"),
        timeUs: opts.timeUs ?? this.#now(),
        severity,
        location: opts.location ?? callerLocation(SKIP),
      },
    });
  }

  /**
   * Appends one raw line (no newline inside expected) to `dn`, cut at 1024 bytes.
   * `originalLength` overrides the length in bytes when the caller already capped the line.
   */
  logRaw(dn: DN, line: string | Uint8Array, originalLength?: number): void {
    const bytes = typeof line === "string" ? new TextEncoder().encode(line) : line;
    this.#rawBytes(this.#writable(dn), bytes, Math.max(originalLength ?? 0, bytes.length));
  }

  #rawBytes(dn: DN, bytes: Uint8Array, originalLength: number) {
    const cut = originalLength > RAW_LINE_MAX_BYTES;
    this.#append({
      dn,
      seq: 0,
      raw: {
        data: decodeCut(bytes, RAW_LINE_MAX_BYTES),
        originalLength: cut ? originalLength : 0,
        timeUs: this.#now(),
      },
    });
  }

  /** A leveled logger writing to `dn` (must be a non-root valid DN). */
  logger(dn: DN): LeveledLogger {
    const d = this.#writable(dn);
    const emit = (sev: Severity, args: unknown[]) =>
      this.logLeveled(d, sev, formatArgs(args), { location: callerLocation(SKIP) });
    return {
      dn: d,
      info: (...a) => emit("INFO", a),
      warning: (...a) => emit("WARNING", a),
      error: (...a) => emit("ERROR", a),
      fatal: (...a) => emit("FATAL", a),
      log: (sev, message, opts = {}) =>
        this.logLeveled(d, sev, message, {
          timeUs: opts.timeUs,
          location: opts.location ?? callerLocation(SKIP),
        }),
    };
  }

  /** A line writer turning a byte stream into raw entries of `dn`. */
  rawWriter(dn: DN): RawLineWriter {
    const d = this.#writable(dn);
    const split = new LineSplitter((line, len) => this.#rawBytes(d, line, len), 4 * 1024);
    return {
      write: (c) => split.write(c),
      flush: () => split.flush(),
      writable: () =>
        new WritableStream<Uint8Array>({
          write: (c) => split.write(c),
          close: () => split.flush(),
          abort: () => split.flush(),
        }),
    };
  }

  /**
   * Reads entries of `dn` (and below it with `withChildren`). The backlog and the start of the
   * stream are taken atomically, so no entry is missed or duplicated between them.
   */
  read(dn: DN, opts: ReadOptions = {}): LogReader {
    validateDN(dn);
    const err = readOptionsError(opts);
    if (err) throw new Error(err);
    const sel = new Selection(dn, opts);
    let backlog: LogEntry[] = [];
    const b = opts.backlog ?? "none";
    if (b !== "none") {
      for (const [d, ring] of this.#byDN) {
        if (!sel.coversDN(d)) continue;
        for (const e of ring.all()) if (sel.passes(e)) backlog.push(e);
      }
      backlog.sort((x, y) => x.seq - y.seq);
      if (typeof b === "number" && backlog.length > b) backlog = backlog.slice(backlog.length - b);
    }
    const sub = { sel, reader: undefined as unknown as LogReader };
    sub.reader = new LogReader(backlog, !!opts.stream, () => this.#readers.delete(sub));
    if (opts.stream) this.#readers.add(sub);
    return sub.reader;
  }

  /** DNs that hold at least one entry, sorted. */
  dns(): DN[] {
    return [...this.#byDN.keys()].sort();
  }

  /** Number of live readers (for tests and metrics). */
  get readerCount(): number {
    return this.#readers.size;
  }

  /** Convenience: `childDN` re-exported for callers building DNs. */
  static child(dn: DN, part: string): DN {
    return childDN(dn, part);
  }

  #writable(dn: DN): DN {
    validateDN(dn);
    if (dn === "") throw new Error('invalid DN: cannot write to the root DN ""');
    return dn;
  }

  #append(e: LogEntry) {
    e.seq = ++this.#seq;
    let ring = this.#byDN.get(e.dn);
    if (!ring) this.#byDN.set(e.dn, ring = new Ring(this.#retention));
    ring.push(e);
    for (const { sel, reader } of this.#readers) if (sel.matches(e)) reader.deliver(e);
  }
}

/** Frames of these modules are skipped when looking up the caller's location. */
const SKIP: Set<string> = new Set([import.meta.url]);

/** Registers a logging wrapper module so its frames are skipped in `file:line` lookup. */
export function skipLocationFrames(moduleUrl: string): void {
  SKIP.add(moduleUrl);
}
