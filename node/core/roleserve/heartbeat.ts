/**
 * heartbeat and statuspush (node.md §13): one `Heartbeat` stream sending every 5 s, reconnecting
 * after errors; `UpdateNodeStatus` with external address, running curator, version and boot ID on
 * every change and after each reconnect to a (new) leader.
 */
import { PORTS } from "../constants/ports.ts";
import { create, equals } from "@bufbuild/protobuf";
import { Curator } from "../../../proto/gen/metropolis/node/core/curator/proto/api/api_pb.ts";
import { NodeStatusSchema } from "../../../proto/gen/metropolis/proto/common/common_pb.ts";
import { Trigger } from "../../base/event/trigger.ts";
import { type Context, signal } from "../../base/supervisor/supervisor.ts";
import { leaderClient, type LeaderClients, type RoleContext, sleep } from "./context.ts";

/** Heartbeat interval (project: 5 s). */
export const HEARTBEAT_INTERVAL_MS = 5000;

/**
 * Runs the heartbeat stream: Healthy once the leader answered the first heartbeat; when the stream
 * fails or the leader ends it, the runnable fails and the supervisor restarts it with backoff (the
 * shared leader clients follow the resolver to a new leader).
 */
export function heartbeat(leader: Pick<LeaderClients, "client">) {
  return async (ctx: Context): Promise<void> => {
    const c = await leader.client(Curator, ctx.signal);
    const stream = c.heartbeat({ signal: ctx.signal });
    const stop = new AbortController();
    let why = "";
    const lost = (w: string) => {
      why ||= w;
      stop.abort();
    };
    stream.on("error", (e: Error) => lost(e.message));
    stream.on("end", () => lost("the leader ended the stream"));
    const both = AbortSignal.any([ctx.signal, stop.signal]);
    // Healthy once the leader answered, not once we wrote: a Healthy signal resets the
    // supervisor's backoff, so signalling on the write made a leaderless node restart this
    // runnable every 0.5 s instead of backing off.
    let answered = false;
    stream.on("data", () => {
      if (answered || both.aborted) return;
      answered = true;
      signal(ctx, "healthy");
    });
    while (!both.aborted) {
      stream.write({});
      await sleep(HEARTBEAT_INTERVAL_MS, both);
    }
    stream.end();
    if (ctx.signal.aborted) return;
    throw new Error(`heartbeat stream: ${why}`);
  };
}

function bootId(): Uint8Array {
  try {
    const hex = Deno.readTextFileSync("/proc/sys/kernel/random/boot_id").trim().replace(/-/g, "");
    return Uint8Array.from(hex.match(/../g)!.map((b) => parseInt(b, 16)));
  } catch {
    return new Uint8Array(16);
  }
}

/**
 * Runs statuspush: pushes the status whenever the address, the curator's state or the leader
 * changes (watched, not polled). Healthy after the first push; a failed push fails the runnable
 * (the supervisor retries with backoff, and the restarted runnable pushes again).
 */
export function statuspush(
  rc: RoleContext,
  version: { major: bigint; minor: bigint; patch: bigint },
) {
  return async (ctx: Context): Promise<void> => {
    const boot = bootId();
    const changed = new Trigger();
    const unsubscribe = rc.resolver.onChange(() => changed.fire());
    changed.follow([rc.address, rc.curatorRunning], ctx.signal);
    let lastPushed: ReturnType<typeof create<typeof NodeStatusSchema>> | undefined;
    let lastLeader = "";
    try {
      while (!ctx.signal.aborted) {
        await changed.wait(ctx.signal);
        const addr = rc.address.get();
        const leader = rc.resolver.current()?.nodeId ?? "";
        if (!addr) continue;
        const status = create(NodeStatusSchema, {
          externalAddress: addr,
          runningCurator: rc.curatorRunning.get() ? { port: PORTS.curator } : undefined,
          version: { release: version },
          bootId: boot,
        });
        if (lastPushed && equals(NodeStatusSchema, lastPushed, status) && leader === lastLeader) {
          continue;
        }
        const c = await leaderClient(rc, Curator, ctx.signal);
        await c.updateNodeStatus({ nodeId: rc.enrolled.nodeId, status }, {
          deadline: Date.now() + 10_000,
        });
        if (!lastPushed) signal(ctx, "healthy");
        lastPushed = status;
        lastLeader = rc.resolver.current()?.nodeId ?? leader;
        ctx.logger.info(
          `status pushed: ${addr}${status.runningCurator ? ", curator running" : ""}`,
        );
      }
    } finally {
      unsubscribe();
    }
  };
}
