/**
 * heartbeat and statuspush (node.md §13): one `Heartbeat` stream sending every 5 s, reconnecting
 * after errors; `UpdateNodeStatus` with external address, running curator, version and boot ID on
 * every change and after each reconnect to a (new) leader.
 */
import { PORTS } from "../constants/ports.ts";
import { create, equals } from "@bufbuild/protobuf";
import { Curator } from "../../../proto/gen/metropolis/node/core/curator/proto/api/api_pb.ts";
import { NodeStatusSchema } from "../../../proto/gen/metropolis/proto/common/common_pb.ts";
import { type Context, signal } from "../../base/supervisor/supervisor.ts";
import { leaderClient, type RoleContext, sleep } from "./context.ts";

/** Heartbeat interval (project: 5 s). */
export const HEARTBEAT_INTERVAL_MS = 5000;

/** Runs the heartbeat stream. */
export function heartbeat(rc: RoleContext) {
  return async (ctx: Context): Promise<void> => {
    signal(ctx, "healthy");
    while (!ctx.signal.aborted) {
      try {
        const c = await leaderClient(rc, Curator, ctx.signal);
        const stream = c.heartbeat({ signal: ctx.signal });
        const failed = new Promise<void>((resolve) => {
          stream.on("error", (e: Error) => {
            if (!ctx.signal.aborted) ctx.logger.warning(`heartbeat stream: ${e.message}`);
            resolve();
          });
          stream.on("end", () => resolve());
          stream.on("data", () => {});
        });
        const stop = new AbortController();
        failed.then(() => stop.abort());
        const both = AbortSignal.any([ctx.signal, stop.signal]);
        while (!both.aborted) {
          stream.write({});
          await sleep(HEARTBEAT_INTERVAL_MS, both);
        }
        stream.end();
      } catch (e) {
        if (ctx.signal.aborted) return;
        ctx.logger.warning(`heartbeat: ${(e as Error).message}`);
      }
      await sleep(1000, ctx.signal);
    }
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

/** Runs statuspush. */
export function statuspush(
  rc: RoleContext,
  version: { major: bigint; minor: bigint; patch: bigint },
) {
  return async (ctx: Context): Promise<void> => {
    signal(ctx, "healthy");
    const boot = bootId();
    let lastPushed: ReturnType<typeof create<typeof NodeStatusSchema>> | undefined;
    let lastLeader = "";
    while (!ctx.signal.aborted) {
      const addr = rc.address.get();
      const leader = rc.resolver.current()?.nodeId ?? "";
      if (addr) {
        const status = create(NodeStatusSchema, {
          externalAddress: addr,
          runningCurator: rc.curatorRunning.get() ? { port: PORTS.curator } : undefined,
          version: { release: version },
          bootId: boot,
        });
        if (!lastPushed || !equals(NodeStatusSchema, lastPushed, status) || leader !== lastLeader) {
          try {
            const c = await leaderClient(rc, Curator, ctx.signal);
            await c.updateNodeStatus({ nodeId: rc.enrolled.nodeId, status }, {
              deadline: Date.now() + 10_000,
            });
            lastPushed = status;
            lastLeader = rc.resolver.current()?.nodeId ?? leader;
            ctx.logger.info(
              `status pushed: ${addr}${status.runningCurator ? ", curator running" : ""}`,
            );
          } catch (e) {
            if (!ctx.signal.aborted) {
              ctx.logger.warning(`status push failed: ${(e as Error).message}`);
            }
          }
        }
      }
      await sleep(1000, ctx.signal);
    }
  };
}
