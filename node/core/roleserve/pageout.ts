/**
 * pageout: once the node's roles have settled, the agent hands the runtime's cold code back to
 * the kernel (node/base/sys/pageout.ts). Code is loaded when the agent starts and when a role
 * starts (etcd's client, the curator, Kubernetes' controllers); after that only what keeps
 * running is needed. So every value of the roles, once it has held for {@link PAGEOUT_SETTLE_MS},
 * is followed by one page-out; a node whose roles do not change pays for it once.
 */
import type { Value } from "../../base/event/value.ts";
import type { PageoutResult } from "../../base/sys/pageout.ts";
import { type Context, signal } from "../../base/supervisor/supervisor.ts";
import { sleep } from "./context.ts";

/**
 * How long roles must hold before the page-out: a role's start (etcd joining, the curator's
 * election, a kubelet registering) is over within it on a namespace node, and a page-out that
 * comes early costs only a second page-out's refaults, not correctness.
 */
export const PAGEOUT_SETTLE_MS = 30_000;

/** What {@link pageout} needs: the value whose changes load code, and the page-out itself. */
export interface PageoutDeps<T> {
  roles: Value<T>;
  pageOut: () => PageoutResult;
  settleMs?: number;
}

const mb = (kb: number) => (kb / 1024).toFixed(1);

/**
 * Healthy at once; pages out {@link PageoutDeps.settleMs} after each roles value that holds that
 * long. When the kernel refuses the advice it says so once and is Done.
 */
export function pageout<T>(deps: PageoutDeps<T>) {
  const settle = deps.settleMs ?? PAGEOUT_SETTLE_MS;
  return async (ctx: Context): Promise<void> => {
    signal(ctx, "healthy");
    const w = deps.roles.watch({ signal: ctx.signal });
    try {
      let next = w.next();
      while (!ctx.signal.aborted) {
        try {
          await next;
        } catch {
          return; // the watch ends only when the runnable is cancelled
        }
        next = w.next();
        // A change within the settling time starts it over.
        const changed = await Promise.race([
          next.then(() => true, () => true),
          sleep(settle, ctx.signal).then(() => false),
        ]);
        if (changed || ctx.signal.aborted) continue;
        const r = deps.pageOut();
        if (r.error) {
          ctx.logger.warning(`runtime code stays resident: ${r.error}`);
          signal(ctx, "done");
          return;
        }
        ctx.logger.info(
          `paged out the runtime's cold code: ${(r.advised / 2 ** 20).toFixed(0)} MiB advised, ` +
            `file-backed RSS ${mb(r.rssFileBeforeKb)} → ${mb(r.rssFileAfterKb)} MiB`,
        );
      }
    } finally {
      w.close();
    }
  };
}
