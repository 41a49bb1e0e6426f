/**
 * Role-gated workers (node.md §13): a worker whose services run exactly while the node holds a
 * role. The gate waits for the role (and any further precondition), runs the body on its own
 * context — the body's children become children of the gate — and, when the role or the
 * precondition goes away, throws: the supervisor cancels every child (processes get SIGTERM,
 * listeners close) and restarts the gate after its backoff, which then waits for the role again.
 */
import type { NodeRoles } from "../../../proto/gen/metropolis/proto/common/common_pb.ts";
import type { Value } from "../../base/event/value.ts";
import { type Context, signal } from "../../base/supervisor/supervisor.ts";
import { hasRole, type RoleName } from "../constants/roles.ts";

/** A precondition besides the role, e.g. "the local curator runs". */
export interface Precondition<T> {
  /** What is waited for, for log lines. */
  what: string;
  value: Value<T | undefined>;
}

/**
 * Returns a runnable that runs `body(ctx, pre)` while `roles` holds every role in `need` and the
 * precondition (if any) is set. `body` adds children to `ctx` and returns (it never signals:
 * the gate signals Healthy once the body returned); a body that throws fails the gate.
 *
 * `unable`, checked each time the role arrives, names why this node cannot run the body at all
 * (e.g. the image lacks the payloads). Then the gate logs that once per arrival and waits for
 * the role to go, without starting or failing anything: a restart could not change the answer,
 * so a restart loop would only burn CPU and leases. It is Healthy meanwhile: it does all this
 * node can do for the role, and the reason is in the log. (Node health comes from heartbeats,
 * which this keeps undisturbed.)
 */
export function roleGated<T = true>(
  roles: Value<NodeRoles | undefined>,
  need: RoleName[],
  body: (ctx: Context, pre: T) => Promise<void>,
  pre?: Precondition<T>,
  unable?: () => string | undefined,
): (ctx: Context) => Promise<void> {
  const holds = (r: NodeRoles | undefined) => need.every((n) => hasRole(r, n));
  return async (ctx: Context): Promise<void> => {
    let idle = false;
    for (;;) {
      await roles.waitFor(holds, ctx.signal);
      const why = unable?.();
      if (why === undefined) break;
      ctx.logger.warning(`${need.join("+")} held but ${why}: not started`);
      if (!idle) signal(ctx, "healthy");
      idle = true;
      await roles.waitFor((r) => !holds(r), ctx.signal);
      ctx.logger.info(`role ${need.join("+")} removed`);
    }
    // Healthy was signalled while idle; start over so the body's run signals it afresh.
    if (idle) throw new Error(`${need.join("+")}: now able to start: restarting the gate`);
    let p = true as T;
    if (pre) {
      ctx.logger.info(`${need.join("+")} held: waiting for ${pre.what}`);
      p = (await pre.value.waitFor((v) => v !== undefined, ctx.signal)) as T;
    }
    ctx.logger.info(`${need.join("+")} held: starting`);
    const lost = new Promise<string | undefined>((resolve) => {
      roles.waitFor((r) => !holds(r), ctx.signal).then(
        () => resolve(`role ${need.join("+")} removed`),
        () => resolve(undefined), // ctx cancelled
      );
      pre?.value.waitFor((v) => v === undefined, ctx.signal).then(
        () => resolve(`${pre.what} gone`),
        () => resolve(undefined),
      );
    });
    const ran = body(ctx, p).then(() => {
      signal(ctx, "healthy");
      return new Promise<never>(() => {}); // runs until the role goes or ctx is cancelled
    });
    const why = await Promise.race([lost, ran]);
    if (why === undefined) return; // cancelled from above: the children are being stopped
    throw new Error(`${why}: stopping`);
  };
}
