/**
 * The enrolment runnable (DN `root.enrolment`, node.md §7.1): runs once per boot, publishes the
 * result for the roleserver, and refuses to run a second time in the same boot. A node with
 * neither parameters nor a sealed configuration waits for parameters to appear on the ESP.
 * Retryable failures (e.g. curator unreachable) are retried inside with backoff; a permanent
 * failure is logged and the node stays up without enrolling.
 */
import type { Value } from "../../base/event/value.ts";
import { type Context, signal, untilAborted } from "../../base/supervisor/supervisor.ts";
import {
  hasSealedConfigurationFile,
  readNodeParameters,
  waitForNodeParameters,
} from "../localstorage/esp.ts";
import {
  enrol,
  type Enrolled,
  type EnrolmentPlatform,
  PermanentEnrolmentError,
} from "./enrolment.ts";

let started = false;

/** See the module comment. */
export function enrolmentRunnable(platform: EnrolmentPlatform, out: Value<Enrolled>) {
  return async (ctx: Context): Promise<void> => {
    if (started) throw new Error("enrolment cannot be restarted");
    started = true;
    let delay = 500;
    for (;;) {
      try {
        let p = await readNodeParameters();
        if (!p && !(await hasSealedConfigurationFile())) {
          ctx.logger.info("no node parameters and no sealed configuration: waiting for parameters");
          p = await waitForNodeParameters(ctx.signal);
        }
        if (p) ctx.logger.info(`node parameters from ${p.source}`);
        const e = await enrol(ctx.logger, p?.params, platform, ctx.signal);
        out.set(e);
        signal(ctx, "healthy");
        signal(ctx, "done");
        return;
      } catch (e) {
        if (ctx.signal.aborted) return;
        if (e instanceof PermanentEnrolmentError) {
          ctx.logger.error(`enrolment failed permanently: ${e.message}`);
          signal(ctx, "healthy");
          await untilAborted(ctx);
          return;
        }
        ctx.logger.error(`enrolment failed: ${(e as Error).message}; retrying in ${delay} ms`);
        await new Promise<void>((r) => {
          const t = setTimeout(r, delay);
          ctx.signal.addEventListener("abort", () => {
            clearTimeout(t);
            r();
          }, { once: true });
        });
        delay = Math.min(delay * 1.5, 60_000);
      }
    }
  };
}
