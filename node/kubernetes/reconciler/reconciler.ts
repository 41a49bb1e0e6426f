/**
 * The reconciler (kubernetes.md §10): one controller at a time, elected under
 * `curator/kubernetes/reconciler/leader`, keeps the builtin objects ({@link builtinObjects})
 * equal to the list at start, every 60 s and — so that an owner's edit or deletion is undone
 * within seconds, not only at the next resync — whenever a watch on the labelled objects of the
 * managed kinds reports a change; then it records DONE in
 * `curator/kubernetes/reconciler/status`. Every controller — elected or not — learns DONE from
 * that key and sets `done`, which gates controller-manager, scheduler and authproxy (§1).
 *
 * Objects are written by server-side apply with field manager `metropolis-reconciler`: it
 * creates what is missing and takes back fields an owner edited (force), and touches nothing we
 * do not set. A field the apiserver refuses to change (422, e.g. a RuntimeClass handler) is
 * fixed by deleting and recreating the object.
 */
import { delay as sleep } from "../../base/delay/delay.ts";
import type { KV } from "../../core/consensus/kv.ts";
import { campaign } from "../../core/curator/election.ts";
import { Value } from "../../base/event/value.ts";
import {
  type Context,
  run,
  type Runnable,
  signal,
  untilAborted,
} from "../../base/supervisor/supervisor.ts";
import type { LeveledLogger } from "../../base/logtree/logger.ts";
import { KubeApiError, type KubeClient, type KubeObject } from "../client/client.ts";
import { inform } from "../dns/informer.ts";
import { BUILTIN_LABEL, builtinObjects, KINDS, objectPath } from "./objects.ts";
import { plan } from "./plan.ts";
import {
  compatible,
  decodeStatus,
  encodeStatus,
  MINIMUM_COMPATIBLE_RELEASE,
  RECONCILER_NAMESPACE,
  type ReconcilerStatus,
  STATUS_KEY,
} from "./status.ts";
import { OS_VERSION } from "../../base/osimage/version.ts";

/** Field manager of the reconciler's applies. */
export const FIELD_MANAGER = "metropolis-reconciler";
/** Resync period (kubernetes.md §10). */
export const RESYNC_MS = 60_000;
/** Version assumed when the caller passes none: the OS version of this tree. */
export const DEFAULT_VERSION = OS_VERSION;
/** Election lease TTL: as the curator's, so a dead controller is replaced within seconds. */
const ELECTION_TTL_S = 10;

/** What the reconciler needs. */
export interface ReconcilerOptions {
  /** Client of the local apiserver as `master`. */
  client: KubeClient;
  /** Root KV of the local etcd (keys `curator/kubernetes/reconciler/…`). */
  kv: KV;
  /** Set true once the builtin objects are reconciled by a compatible version. */
  done: Value<boolean>;
  /** This agent's version (SemVer); default {@link DEFAULT_VERSION}. */
  version?: string;
  /**
   * Election value: the node ID, so that a restarted node removes its own stale election key
   * instead of waiting for its lease to expire. Default: a random value.
   */
  nodeId?: string;
  /** Resync period; default {@link RESYNC_MS} (tests shorten it). */
  resyncMs?: number;
}

/** The reconciler runnable: children `status` (learns DONE) and `leader` (reconciles). */
export function reconciler(o: ReconcilerOptions): Runnable {
  return async (ctx: Context) => {
    run(ctx, "status", watchStatus(o));
    run(ctx, "leader", lead(o));
    signal(ctx, "healthy");
    await untilAborted(ctx);
  };
}

/** Sets `o.done` once the stored status is DONE and compatible with this version, then ends. */
function watchStatus(o: ReconcilerOptions): Runnable {
  const version = o.version ?? DEFAULT_VERSION;
  return async (ctx) => {
    const { entries, revision } = await o.kv.list(STATUS_KEY);
    let failed!: (e: Error) => void;
    const failure = new Promise<never>((_, reject) => failed = reject);
    failure.catch(() => {}); // an error after the race settled has nobody left to tell
    let finished!: () => void;
    const reached = new Promise<void>((resolve) => finished = resolve);
    let warned = "";
    const see = (bytes: Uint8Array | undefined) => {
      const s = decodeStatus(bytes);
      if (compatible(s, version)) return finished();
      const why = s?.state === "DONE"
        ? `status DONE by ${s.version} requires at least release ` +
          `${Object.values(s.minimumCompatibleRelease).join(".")}; this is ${version}`
        : "";
      if (why && why !== warned) ctx.logger.warning(why);
      warned = why;
    };
    see(entries.find((e) => e.key === STATUS_KEY)?.value);
    const w = await o.kv.watch(STATUS_KEY, revision + 1n, (ev) => {
      if (ev.entry.key === STATUS_KEY) see(ev.type === "put" ? ev.entry.value : undefined);
    }, (e) => failed(new Error(`watching ${STATUS_KEY}: ${e.message}`)));
    signal(ctx, "healthy");
    try {
      await Promise.race([reached, failure, untilAborted(ctx)]);
    } finally {
      await w.cancel().catch(() => {});
    }
    if (ctx.signal.aborted) return;
    // DONE is final for this controller: components it gates keep running across later
    // reconciler passes (and across upgrades, which a newer status may announce).
    ctx.logger.info("builtin objects reconciled: starting gated components");
    if (!o.done.get()) o.done.set(true);
    signal(ctx, "done");
  };
}

/** Campaigns; while elected, reconciles at start and every resync period, writing the status. */
function lead(o: ReconcilerOptions): Runnable {
  const version = o.version ?? DEFAULT_VERSION;
  const period = o.resyncMs ?? RESYNC_MS;
  return async (ctx) => {
    const ns = o.kv.namespace(RECONCILER_NAMESPACE);
    const statusKey = STATUS_KEY.slice(RECONCILER_NAMESPACE.length);
    // Reach the apiserver before campaigning and before Healthy: while it is down (starting,
    // or gone) this throws, takes no election lease, and — Healthy not being signalled — the
    // supervisor's restart backoff grows instead of restarting every 0.5 s with a lease grant,
    // a campaign and a revoke each time (etcd churn on a loaded control-plane node).
    await o.client.request("GET", `${KINDS[0].path}?limit=1`, undefined, { signal: ctx.signal });
    // Waiting for the election is the normal state of every controller but one.
    signal(ctx, "healthy");
    const value = new TextEncoder().encode(o.nodeId ?? crypto.randomUUID());
    const l = await campaign(ns, { ttl: ELECTION_TTL_S, value, signal: ctx.signal });
    const stop = AbortSignal.any([ctx.signal, l.lost]);
    try {
      ctx.logger.info("elected: reconciling builtin objects");
      let stored = decodeStatus((await ns.get(statusKey))?.value);
      const write = async (s: ReconcilerStatus) => {
        if (stored && encodeStatus(stored) === encodeStatus(s)) return;
        // Guarded by the election key: a controller that lost the election cannot write.
        const r = await ns.txn([l.guard], [{ put: statusKey, value: encodeStatus(s) }]);
        if (!r.succeeded) throw new Error("lost the reconciler election while writing status");
        stored = s;
      };
      const status = (state: ReconcilerStatus["state"]): ReconcilerStatus => ({
        state,
        version,
        minimumCompatibleRelease: MINIMUM_COMPATIBLE_RELEASE,
      });
      // A different version reconciling announces itself before it changes anything.
      if (stored?.version !== version) await write(status("WORKING"));
      const changes = watchBuiltins(o.client, stop);
      let seen = changes.value.get()!;
      for (;;) {
        const n = await reconcileOnce(o.client, ctx.logger, stop);
        if (n) ctx.logger.info(`reconciled builtin objects: ${n} change(s)`);
        await write(status("DONE"));
        // The next pass: at the resync, or at once when a builtin object changed meanwhile
        // (our own writes included: that pass finds nothing to do and writes nothing).
        const changed = changes.value.waitFor((v) => v !== seen, stop).catch(() => {});
        await Promise.race([sleep(period, stop), changed, changes.failed]);
        seen = changes.value.get()!;
        if (ctx.signal.aborted) return;
        l.lost.throwIfAborted();
      }
    } finally {
      // Failing (e.g. the apiserver is down) hands the job to another controller while the
      // supervisor backs off, instead of holding the election with nobody reconciling.
      await l.resign();
    }
  };
}

/**
 * Watches the labelled objects of every managed kind; `value` counts the changes seen, `failed`
 * rejects when a watch fails for good (the apiserver went away: the pass fails too).
 */
function watchBuiltins(
  client: KubeClient,
  signal: AbortSignal,
): { value: Value<number>; failed: Promise<never> } {
  const value = new Value<number>(0);
  const selector = `labelSelector=${encodeURIComponent(`${BUILTIN_LABEL}=true`)}`;
  const failed = Promise.race(KINDS.map((k) =>
    inform({
      client,
      path: `${k.path}?${selector}`,
      parse: (x) => x.metadata?.resourceVersion ?? "",
      onChange: () => value.set(value.get()! + 1),
      signal,
    })
  )).catch((e) => {
    // Stopping ends the watches too; that is not a failure.
    if (signal.aborted) return new Promise<never>(() => {});
    throw e;
  });
  failed.catch(() => {});
  return { value, failed };
}

/**
 * One pass: lists every managed kind, then creates, updates and deletes as {@link plan} says.
 * Returns the number of changes. Throws on any apiserver error (the pass is retried by the
 * supervisor's restart).
 */
export async function reconcileOnce(
  client: KubeClient,
  log: LeveledLogger,
  signal: AbortSignal,
): Promise<number> {
  const have: Record<string, KubeObject[]> = {};
  for (const k of KINDS) {
    have[k.kind] = (await client.request("GET", k.path, undefined, { signal })).items ?? [];
  }
  const actions = plan(builtinObjects(), have);
  for (const a of actions) {
    if (a.op === "delete") {
      log.info(`deleting ${a.kind} ${a.name}: labelled builtin but no longer in the list`);
      await remove(client, a.kind, a.name, signal);
      continue;
    }
    const { kind, metadata: { name } } = a.object;
    log.info(`${a.op === "create" ? "creating" : "updating"} ${kind} ${name}`);
    try {
      await apply(client, a.object, signal);
    } catch (e) {
      if (!(e instanceof KubeApiError && e.status === 422)) throw e;
      log.warning(`${kind} ${name}: ${e.message}; recreating it`);
      await remove(client, kind, name, signal);
      await apply(client, a.object, signal);
    }
  }
  return actions.length;
}

async function apply(client: KubeClient, o: KubeObject, signal: AbortSignal): Promise<void> {
  await client.request(
    "PATCH",
    `${objectPath(o.kind, o.metadata.name)}?fieldManager=${FIELD_MANAGER}&force=true`,
    o,
    { contentType: "application/apply-patch+yaml", signal },
  );
}

async function remove(client: KubeClient, kind: string, name: string, signal: AbortSignal) {
  try {
    await client.request("DELETE", objectPath(kind, name), undefined, { signal });
  } catch (e) {
    if (!(e instanceof KubeApiError && e.status === 404)) throw e;
  }
}
