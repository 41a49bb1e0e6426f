/**
 * The labelmaker (kubernetes.md §10): runs on every controller and keeps each Kubernetes Node
 * named after a Metropolis node labelled with its roles and synchronized Metropolis labels
 * ({@link managedLabels}). Server-side apply with field manager `metropolis-labelmaker` makes
 * removed roles/labels disappear while labels of others (kubelet, operators) stay.
 *
 * A pass runs when the Metropolis node list changes, when a Kubernetes Node changes (a new Node
 * is labelled as soon as kubelet registers it), when the label rules change, and every 60 s.
 * Nodes without a Kubernetes Node are skipped: applying to them would create a Node.
 * Several controllers may apply at once; their applies are identical, so that is harmless.
 */
import { aborted, delay as sleep } from "../../base/delay/delay.ts";
import type { Value } from "../../base/event/value.ts";
import type { LeveledLogger } from "../../base/logtree/logger.ts";
import { type Context, type Runnable, signal } from "../../base/supervisor/supervisor.ts";
import type { KV } from "../../core/consensus/kv.ts";
import { CLUSTER_CONFIGURATION_KEY } from "../../core/curator/keys.ts";
import type { KnownNode } from "../../core/roleserve/context.ts";
import { KubeApiError, type KubeClient, type KubeObject } from "../client/client.ts";
import {
  applyBody,
  compilePatterns,
  FIELD_MANAGER,
  managedLabels,
  needsApply,
  rulesFromConfiguration,
} from "./labels.ts";

/** Resync period (kubernetes.md §10). */
export const RESYNC_MS = 60_000;
/** The cluster configuration key in the root KV. */
const CONFIG_KEY = "curator/" + CLUSTER_CONFIGURATION_KEY;
const NODES = "/api/v1/nodes";

/** What the labelmaker needs. */
export interface LabelmakerOptions {
  /** Client of the local apiserver as `master`. */
  client: KubeClient;
  /** The cluster's Metropolis nodes (from the curator's node watch). */
  nodes: Value<Map<string, KnownNode>>;
  /** Root KV of the local etcd (reads the cluster configuration). */
  kv: KV;
  /** Resync period; default {@link RESYNC_MS} (tests shorten it). */
  resyncMs?: number;
}

/** The labelmaker runnable. Throws (and is restarted) when etcd or the apiserver fails. */
export function labelmaker(o: LabelmakerOptions): Runnable {
  return async (ctx: Context) => {
    const kube = new Map<string, KubeObject>();
    let metro: Map<string, KnownNode> | undefined;
    let patterns: RegExp[] | undefined;
    const pass = new Kick();
    const sync = async (signal: AbortSignal) => {
      for (;;) {
        await pass.wait(signal);
        // Until both inputs are known a pass would remove synchronized labels wrongly.
        if (metro && patterns) await syncAll(o.client, ctx.logger, kube, metro, patterns, signal);
      }
    };
    const nodes = async (signal: AbortSignal) => {
      for await (const m of o.nodes.watch({ signal })) {
        metro = m;
        pass.kick();
      }
    };
    const rules = (signal: AbortSignal) =>
      watchKey(o.kv, CONFIG_KEY, signal, (bytes) => {
        const src = rulesFromConfiguration(bytes);
        patterns = compilePatterns(src, (m) => ctx.logger.warning(m));
        ctx.logger.info(`synchronizing labels matching: ${
          src.map((s) => JSON.stringify(s)).join(", ") || "(none)"
        }`);
        pass.kick();
      });
    // Healthy once the apiserver answered: until then the labelmaker cannot do anything.
    let healthy = false;
    const kubeNodes = (stop: AbortSignal) =>
      watchKubeNodes(o.client, kube, stop, () => {
        if (!healthy) signal(ctx, "healthy");
        healthy = true;
        pass.kick();
      });
    const resync = async (signal: AbortSignal) => {
      for (;;) {
        await sleep(o.resyncMs ?? RESYNC_MS, signal);
        signal.throwIfAborted();
        pass.kick();
      }
    };
    await firstFailure(ctx.signal, [sync, nodes, rules, kubeNodes, resync]);
  };
}

/** Applies the managed labels to every Kubernetes Node of a Metropolis node that needs it. */
async function syncAll(
  client: KubeClient,
  log: LeveledLogger,
  kube: Map<string, KubeObject>,
  metro: Map<string, KnownNode>,
  patterns: RegExp[],
  signal: AbortSignal,
): Promise<void> {
  for (const [name, kn] of [...kube]) {
    const m = metro.get(name);
    if (!m) continue;
    const want = managedLabels(m, patterns);
    if (!needsApply(kn, want)) continue;
    try {
      const r = await client.request(
        "PATCH",
        `${NODES}/${encodeURIComponent(name)}?fieldManager=${FIELD_MANAGER}&force=true`,
        applyBody(name, want),
        { contentType: "application/apply-patch+yaml", signal },
      );
      // The Node watch brings the same object; keeping it now avoids a second apply meanwhile.
      if (kube.has(name)) kube.set(name, r);
      log.info(`labelled Node ${name}: ${Object.keys(want).join(", ") || "(no managed labels)"}`);
    } catch (e) {
      // Deleted since the watch saw it: nothing to label.
      if (!(e instanceof KubeApiError && e.status === 404)) throw e;
    }
  }
}

/**
 * Keeps `kube` equal to the apiserver's Nodes: LIST, then WATCH from its resourceVersion; a
 * watch that ends or expires (410 Gone) is followed by a new LIST. Calls `changed` after every
 * LIST and every added or modified Node.
 */
async function watchKubeNodes(
  client: KubeClient,
  kube: Map<string, KubeObject>,
  signal: AbortSignal,
  changed: () => void,
): Promise<void> {
  for (;;) {
    const list = await client.request("GET", NODES, undefined, { signal });
    kube.clear();
    for (const n of list.items ?? []) kube.set(n.metadata.name, n);
    changed();
    try {
      for await (const ev of client.watch(NODES, list.metadata.resourceVersion, signal)) {
        const name = ev.object.metadata?.name;
        if (ev.type === "DELETED") kube.delete(name);
        else if (ev.type === "ADDED" || ev.type === "MODIFIED") {
          kube.set(name, ev.object);
          changed();
        }
      }
    } catch (e) {
      if (!(e instanceof KubeApiError && e.status === 410)) throw e;
    }
    signal.throwIfAborted();
  }
}

/** Calls `onValue` with the value of `key` (undefined when absent) now and at every change. */
async function watchKey(
  kv: KV,
  key: string,
  signal: AbortSignal,
  onValue: (v: Uint8Array | undefined) => void,
): Promise<void> {
  const { entries, revision } = await kv.list(key);
  onValue(entries.find((e) => e.key === key)?.value);
  let failed!: (e: Error) => void;
  const failure = new Promise<never>((_, reject) => failed = reject);
  failure.catch(() => {});
  const w = await kv.watch(key, revision + 1n, (ev) => {
    if (ev.entry.key === key) onValue(ev.type === "put" ? ev.entry.value : undefined);
  }, (e) => failed(new Error(`watching ${key}: ${e.message}`)));
  try {
    await Promise.race([failure, aborted(signal)]);
  } finally {
    await w.cancel().catch(() => {});
  }
}

/**
 * Runs `tasks` until `parent` aborts or one fails; a failure aborts the others and is rethrown
 * once all have stopped, so the supervisor restarts the labelmaker as a whole.
 */
async function firstFailure(
  parent: AbortSignal,
  tasks: ((signal: AbortSignal) => Promise<void>)[],
): Promise<void> {
  const stop = new AbortController();
  const signal = AbortSignal.any([parent, stop.signal]);
  let error: unknown;
  await Promise.allSettled(tasks.map((t) =>
    t(signal).catch((e) => {
      if (!signal.aborted) {
        error ??= e;
        stop.abort(e);
      }
    })
  ));
  if (error !== undefined) throw error;
}

/** A coalescing trigger: any number of kicks before a wait make one pass. */
class Kick {
  #pending = false;
  #wake?: () => void;

  kick(): void {
    this.#pending = true;
    this.#wake?.();
  }

  async wait(signal: AbortSignal): Promise<void> {
    while (!this.#pending) {
      signal.throwIfAborted();
      const woken = new Promise<void>((resolve) => this.#wake = resolve);
      const stop = () => this.#wake?.();
      signal.addEventListener("abort", stop, { once: true });
      await woken;
      signal.removeEventListener("abort", stop);
      this.#wake = undefined;
      signal.throwIfAborted();
    }
    this.#pending = false;
  }
}
