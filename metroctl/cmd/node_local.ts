/**
 * Node-local commands (metroctl.md §4.8): `node logs`, `node reboot`, `node poweroff`. They find
 * the node's address with `GetNodes` and dial its NodeManagement service on 7839, verifying the
 * node ID.
 */
import { PORTS } from "../../node/core/constants/ports.ts";
import { toJsonString } from "@bufbuild/protobuf";
import { z } from "zod";
import {
  LogsRequest_BacklogMode as BacklogMode,
  LogsRequest_StreamMode as StreamMode,
  NodeManagement,
  RebootRequest_NextBoot as NextBoot,
  RebootRequest_Type as RebootType,
} from "../../proto/gen/metropolis/proto/api/management_pb.ts";
import {
  type LogEntry as ProtoLogEntry,
  LogEntrySchema,
} from "../../proto/gen/osbase/logtree/proto/logtree_pb.ts";
import type { LogEntry, Severity } from "../../node/base/logtree/entry.ts";
import { formatConcise, formatEntry } from "../../node/base/logtree/format.ts";
import type { Command } from "../core/args.ts";
import type { Context } from "../core/context.ts";
import { connectCluster } from "../core/dial.ts";
import { step, UsageError } from "../core/errors.ts";
import { nodeAddress, nodeById } from "../core/nodes.ts";

/** Port of the node management service. */
export const NODE_MANAGEMENT_PORT = PORTS.nodeManagement;

const SEVERITY: Record<number, Severity> = { 1: "INFO", 2: "WARNING", 3: "ERROR", 4: "FATAL" };

/** Converts a wire log entry to the logtree form used by the text formatters. */
export function fromProto(e: ProtoLogEntry): LogEntry {
  if (e.kind.case === "leveled") {
    const l = e.kind.value;
    const ts = l.timestamp;
    const timeUs = ts ? Number(ts.seconds) * 1_000_000 + Math.floor(ts.nanos / 1000) : 0;
    return {
      dn: e.dn,
      seq: 0,
      leveled: {
        lines: l.lines.length ? l.lines : [""],
        timeUs,
        severity: SEVERITY[l.severity] ?? "INFO",
        location: l.location,
      },
    };
  }
  if (e.kind.case === "raw") {
    return {
      dn: e.dn,
      seq: 0,
      raw: {
        data: e.kind.value.data,
        originalLength: Number(e.kind.value.originalLength),
        timeUs: 0,
      },
    };
  }
  return { dn: e.dn, seq: 0, raw: { data: "", originalLength: 0, timeUs: 0 } };
}

async function logs(ctx: Context): Promise<void> {
  const id = ctx.args[0];
  const backlog = Number(ctx.str("backlog"));
  const cluster = await connectCluster(ctx);
  try {
    const node = await nodeById(cluster, id);
    const address = nodeAddress(node);
    const nm = await cluster.nodeClient(NodeManagement, address, NODE_MANAGEMENT_PORT, id);
    const json = ctx.format === "json";
    if (!json) await ctx.write(`=== Logs from ${id} (${address}):\n`);
    const stream = nm.logs({
      dn: ctx.str("dn"),
      filters: ctx.bool("exact") ? [] : [{ filter: { case: "withChildren", value: {} } }],
      backlogMode: backlog < 0
        ? BacklogMode.ALL
        : backlog === 0
        ? BacklogMode.DISABLE
        : BacklogMode.COUNT,
      backlogCount: backlog > 0 ? BigInt(backlog) : 0n,
      streamMode: ctx.bool("follow") ? StreamMode.UNBUFFERED : StreamMode.DISABLE,
    }, { signal: ctx.signal });
    const width = Deno.stdout.isTerminal() ? Deno.consoleSize().columns : 120;
    await step(`logs from ${id}`, async () => {
      for await (const r of stream) {
        for (const e of [...r.backlogEntries, ...r.streamEntries]) {
          if (json) await ctx.write(toJsonString(LogEntrySchema, e) + "\n");
          else {
            const t = fromProto(e);
            const lines = ctx.bool("concise") ? formatConcise(t, width) : formatEntry(t);
            await ctx.write(lines.map((l) => l + "\n").join(""));
          }
        }
      }
    });
    if (!json) await ctx.write("=== Done.\n");
  } finally {
    await cluster.close();
  }
}

async function reboot(ctx: Context, powerOff: boolean): Promise<void> {
  const id = ctx.args[0];
  const [kexec, firmware, rollback] = ["kexec", "firmware", "rollback"].map((f) => ctx.bool(f));
  if (kexec && firmware) {
    throw new UsageError("--kexec cannot be used with --firmware", ctx.command);
  }
  if (firmware && rollback) {
    throw new UsageError("--firmware cannot be used with --rollback", ctx.command);
  }
  const cluster = await connectCluster(ctx);
  try {
    const node = await nodeById(cluster, id);
    const nm = await cluster.nodeClient(
      NodeManagement,
      nodeAddress(node),
      NODE_MANAGEMENT_PORT,
      id,
    );
    await step(`${powerOff ? "power off" : "reboot"} ${id}`, () =>
      nm.reboot({
        type: powerOff ? RebootType.POWER_OFF : kexec ? RebootType.KEXEC : RebootType.FIRMWARE,
        nextBoot: firmware
          ? NextBoot.START_FIRMWARE_UI
          : rollback
          ? NextBoot.START_ROLLBACK
          : NextBoot.START_NORMAL,
      }));
    ctx.stderr(powerOff ? `Node ${id} is being powered off` : `Node ${id} is being rebooted`);
  } finally {
    await cluster.close();
  }
}

/** `node logs`. */
export const logsCommand: Command = {
  name: "logs",
  summary: "Show logs of a node",
  usage: "<node-id> [flags]",
  args: { min: 1, max: 1 },
  flags: [
    { name: "follow", short: "f", kind: "bool", help: "keep streaming new entries" },
    { name: "dn", kind: "string", help: "log tree DN to read (empty: whole tree)" },
    { name: "exact", short: "e", kind: "bool", help: "only the DN itself, not its children" },
    { name: "concise", short: "c", kind: "bool", help: "concise output format" },
    {
      name: "backlog",
      kind: "string",
      valueName: "int",
      default: "-1",
      help: "entries of history (-1: all, 0: none)",
      schema: z.string().regex(/^-?\d+$/, "must be an integer").refine(
        (s) => Number(s) >= -1,
        "must be -1 or more",
      ),
    },
  ],
  examples: ["metroctl node logs metropolis-0123… --dn root.enrolment -f"],
  run: logs,
};

const powerFlags: Command["flags"] = [
  { name: "rollback", kind: "bool", help: "boot the inactive A/B slot next" },
  { name: "firmware", kind: "bool", help: "enter the firmware setup UI next" },
  { name: "kexec", kind: "bool", help: "reboot with kexec instead of the firmware" },
];

/** `node reboot`. */
export const rebootCommand: Command = {
  name: "reboot",
  summary: "Reboot a node",
  usage: "<node-id> [flags]",
  args: { min: 1, max: 1 },
  flags: powerFlags,
  run: (ctx) => reboot(ctx, false),
};

/** `node poweroff`. */
export const poweroffCommand: Command = {
  name: "poweroff",
  summary: "Power off a node",
  usage: "<node-id>",
  args: { min: 1, max: 1 },
  run: (ctx) => reboot(ctx, true),
};
