/**
 * NodeManagement.Logs (node.md §14, §5): turns a `LogsRequest` into a log tree read, sends the
 * backlog in chunks and then, when asked, live entries until the client cancels. Also the
 * conversion of log tree entries to `osbase.logtree.proto.LogEntry`.
 */
import * as grpc from "@grpc/grpc-js";
import { create } from "@bufbuild/protobuf";
import { TimestampSchema } from "@bufbuild/protobuf/wkt";
import {
  type LogsRequest,
  LogsRequest_BacklogMode as BacklogMode,
  LogsRequest_StreamMode as StreamMode,
  type LogsResponse,
  LogsResponseSchema,
} from "../../../proto/gen/metropolis/proto/api/management_pb.ts";
import {
  LeveledLogSeverity,
  type LogEntry as ProtoLogEntry,
  LogEntrySchema,
} from "../../../proto/gen/osbase/logtree/proto/logtree_pb.ts";
import { dnError } from "../../base/logtree/dn.ts";
import { type LogEntry, type Severity, SEVERITY_NUMBER } from "../../base/logtree/entry.ts";
import type { LogTree } from "../../base/logtree/logtree.ts";
import type { LogReader, ReadOptions } from "../../base/logtree/reader.ts";
import { RpcError } from "../rpc/auth.ts";

/** At most this many filters per request (upstream's limit). */
export const MAX_FILTERS = 10;

/**
 * At most this many backlog entries per `LogsResponse`. Upstream's sizing: a line is at most
 * ≈ 4 KiB plus overhead, and 2000 such entries stay well below the 64 MiB message limit (≈ 10 MB).
 */
export const BACKLOG_CHUNK = 2000;

/** Replacement for invalid UTF-8 in entry text (upstream: `strings.ToValidUTF8(s, "<INVALID>")`). */
export const INVALID_TEXT = "<INVALID>";

/** A log tree read as a LogsRequest asks for it. */
export interface LogsRead {
  dn: string;
  options: ReadOptions;
}

function invalid(msg: string): RpcError {
  return new RpcError(grpc.status.INVALID_ARGUMENT, msg);
}

const SEVERITY_OF: ReadonlyMap<number, Severity> = new Map(
  Object.entries(SEVERITY_NUMBER).map(([s, n]) => [n, s as Severity]),
);

/**
 * Validates `req` and returns the log tree read it asks for. Throws {@link RpcError}
 * INVALID_ARGUMENT naming the problem (too many filters, invalid DN, bad backlog or stream mode,
 * invalid severity, only_raw together with only_leveled).
 */
export function logsRead(req: LogsRequest): LogsRead {
  if (req.filters.length > MAX_FILTERS) {
    throw invalid(`requested ${req.filters.length} filters, at most ${MAX_FILTERS} are permitted`);
  }
  const dnErr = dnError(req.dn);
  if (dnErr) throw invalid(dnErr);
  const options: ReadOptions = {};
  switch (req.backlogMode) {
    case BacklogMode.DISABLE:
      options.backlog = "none";
      break;
    case BacklogMode.ALL:
      options.backlog = "all";
      break;
    case BacklogMode.COUNT: {
      if (req.backlogCount <= 0n) {
        throw invalid(
          `backlog_count must be > 0 with BACKLOG_MODE_COUNT, got ${req.backlogCount}`,
        );
      }
      // Anything beyond 2^53 asks for "everything" anyway; keep the number exact and finite.
      const max = BigInt(Number.MAX_SAFE_INTEGER);
      options.backlog = Number(req.backlogCount > max ? max : req.backlogCount);
      break;
    }
    default:
      throw invalid(
        `backlog_mode must be BACKLOG_MODE_DISABLE, _ALL or _COUNT, got ${req.backlogMode}`,
      );
  }
  switch (req.streamMode) {
    // Unset means no streaming, as upstream (its switch has no case for it).
    case StreamMode.INVALID:
    case StreamMode.DISABLE:
      options.stream = false;
      break;
    case StreamMode.UNBUFFERED:
      options.stream = true;
      break;
    default:
      throw invalid(
        `stream_mode must be unset, STREAM_MODE_DISABLE or STREAM_MODE_UNBUFFERED, got ${req.streamMode}`,
      );
  }
  req.filters.forEach((f, i) => {
    switch (f.filter.case) {
      case "withChildren":
        options.withChildren = true;
        break;
      case "onlyRaw":
        options.onlyRaw = true;
        break;
      case "onlyLeveled":
        options.onlyLeveled = true;
        break;
      case "leveledWithMinimumSeverity": {
        const n = f.filter.value.minimum;
        const sev = SEVERITY_OF.get(n);
        if (!sev) throw invalid(`filter ${i}: invalid minimum severity ${n}`);
        options.minSeverity = sev;
        break;
      }
      default:
        // An empty filter (or one of a newer client) selects nothing extra; upstream ignores it.
        break;
    }
  });
  if (options.onlyRaw && options.onlyLeveled) {
    throw invalid("only_raw and only_leveled filters cannot be combined");
  }
  return { dn: req.dn, options };
}

// Runs of lone surrogates (JS strings that are not valid UTF-16, hence not encodable as UTF-8)
// and of U+FFFD: the log tree decodes untrusted bytes with a non-fatal TextDecoder, which turns
// every invalid byte sequence into U+FFFD, so that is where invalid UTF-8 shows up here.
const INVALID_RUN =
  /(?:[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]|\uFFFD)+/g;

/**
 * Makes `s` valid UTF-8 text the way upstream does (`strings.ToValidUTF8(s, "<INVALID>")`): each
 * run of invalid input becomes one `<INVALID>`. Invalid bytes reach this point as U+FFFD (see
 * above), so a genuine U+FFFD in a message is replaced too; the tree cannot tell them apart.
 */
export function validUtf8(s: string): string {
  return s.replace(INVALID_RUN, INVALID_TEXT);
}

/** Converts a log tree entry to `osbase.logtree.proto.LogEntry` (mapping: logtree/entry.ts). */
export function toProtoEntry(e: LogEntry): ProtoLogEntry {
  if (e.leveled) {
    const l = e.leveled;
    const us = Math.floor(l.timeUs);
    const seconds = Math.floor(us / 1e6);
    return create(LogEntrySchema, {
      dn: e.dn,
      kind: {
        case: "leveled",
        value: {
          lines: l.lines.map(validUtf8),
          timestamp: create(TimestampSchema, {
            seconds: BigInt(seconds),
            nanos: (us - seconds * 1e6) * 1000,
          }),
          severity: SEVERITY_NUMBER[l.severity] as LeveledLogSeverity,
          location: validUtf8(l.location),
        },
      },
    });
  }
  const r = e.raw!;
  return create(LogEntrySchema, {
    dn: e.dn,
    kind: {
      case: "raw",
      value: { data: validUtf8(r.data), originalLength: BigInt(r.originalLength) },
    },
  });
}

/** Where {@link serveLogs} sends its messages. */
export interface LogsSink {
  /**
   * Sends one message, honouring back-pressure; resolves false when the call is gone (cancelled)
   * and nothing more should be sent.
   */
  send(msg: LogsResponse): Promise<boolean>;
}

/**
 * Serves one Logs call: reads `tree` per `req` (throws {@link RpcError} INVALID_ARGUMENT for a bad
 * request), sends the backlog in messages of at most {@link BACKLOG_CHUNK} entries, then with
 * STREAM_MODE_UNBUFFERED live entries until `signal` aborts (client cancelled). A live reader that
 * overflowed (the client reads slower than the node logs) ends the call with UNAVAILABLE after the
 * entries before the gap were sent, since entries after it would silently be missing.
 */
export async function serveLogs(
  tree: LogTree,
  req: LogsRequest,
  sink: LogsSink,
  signal: AbortSignal,
): Promise<void> {
  const { dn, options } = logsRead(req);
  let reader: LogReader;
  try {
    reader = tree.read(dn, options);
  } catch (e) {
    // logsRead has checked everything the tree checks; anything left is the tree's problem.
    throw new RpcError(grpc.status.UNAVAILABLE, `cannot read logs: ${(e as Error).message}`);
  }
  try {
    const backlog = reader.backlog;
    for (let i = 0; i < backlog.length; i += BACKLOG_CHUNK) {
      const chunk = backlog.slice(i, i + BACKLOG_CHUNK).map(toProtoEntry);
      if (!await sink.send(create(LogsResponseSchema, { backlogEntries: chunk }))) return;
    }
    if (!options.stream) return;
    for (;;) {
      if (reader.missed > 0 && reader.buffered === 0) {
        throw new RpcError(
          grpc.status.UNAVAILABLE,
          `log stream overflowed: ${reader.missed} entries dropped because the client read too ` +
            `slowly; read again`,
        );
      }
      const first = await reader.next(signal);
      if (!first) return;
      // Send what is already waiting in one message instead of one message per entry.
      const batch = [first];
      while (reader.buffered > 0 && batch.length < BACKLOG_CHUNK) {
        batch.push((await reader.next())!);
      }
      const msg = create(LogsResponseSchema, { streamEntries: batch.map(toProtoEntry) });
      if (!await sink.send(msg)) return;
    }
  } finally {
    reader.close();
  }
}

/**
 * A {@link LogsSink} over a grpc-js server stream: waits for `drain` when the transport buffer is
 * full, and gives up as soon as `signal` aborts.
 */
export function grpcSink(
  call: grpc.ServerWritableStream<unknown, LogsResponse>,
  signal: AbortSignal,
): LogsSink {
  return {
    async send(msg) {
      if (signal.aborted) return false;
      if (call.write(msg)) return true;
      await new Promise<void>((resolve) => {
        const done = () => {
          call.off("drain", done);
          signal.removeEventListener("abort", done);
          resolve();
        };
        call.on("drain", done);
        signal.addEventListener("abort", done, { once: true });
      });
      return !signal.aborted;
    },
  };
}
