/**
 * LIST + WATCH of one Kubernetes collection into an in-memory map, the way client-go's
 * reflector does it: list, watch from the list's resourceVersion, apply events, and list again
 * when the watch ends or the server says the version is gone (410). Any other error is thrown:
 * the owning runnable fails and the supervisor backs off and restarts it.
 * @module
 */
import { KubeApiError, type KubeClient, type KubeObject } from "../client/client.ts";

/** What an informer needs. */
export interface InformerOptions<T> {
  client: KubeClient;
  /** Collection path, e.g. `/api/v1/services` (may carry a `?fieldSelector=…`). */
  path: string;
  /** Strict parse of one object; undefined drops it (objects we cannot use are not stored). */
  parse: (o: KubeObject) => T | undefined;
  /**
   * Called with the whole collection after every LIST and every event. The map is the
   * informer's own and changes after the call returns: use it synchronously.
   */
  onChange: (items: ReadonlyMap<string, T>) => void;
  signal: AbortSignal;
}

/** `namespace/name` (or `name` for cluster-scoped objects). */
export function objectKey(o: KubeObject): string | undefined {
  const m = o?.metadata;
  if (typeof m?.name !== "string") return undefined;
  return typeof m.namespace === "string" ? `${m.namespace}/${m.name}` : m.name;
}

/** Runs until `signal` aborts (then rejects with the abort reason) or an API error. */
export async function inform<T>(o: InformerOptions<T>): Promise<never> {
  for (;;) {
    const list = await o.client.request("GET", o.path, undefined, { signal: o.signal });
    const items = new Map<string, T>();
    for (const obj of Array.isArray(list.items) ? list.items : []) {
      const k = objectKey(obj);
      const v = k === undefined ? undefined : o.parse(obj);
      if (k !== undefined && v !== undefined) items.set(k, v);
    }
    let rv = String(list.metadata?.resourceVersion ?? "");
    o.onChange(items);
    try {
      for await (const ev of o.client.watch(o.path, rv, o.signal)) {
        const next = ev.object?.metadata?.resourceVersion;
        if (typeof next === "string") rv = next;
        if (ev.type === "BOOKMARK") continue;
        const k = objectKey(ev.object);
        if (k === undefined) continue;
        const v = ev.type === "DELETED" ? undefined : o.parse(ev.object);
        if (v === undefined) items.delete(k);
        else items.set(k, v);
        o.onChange(items);
      }
    } catch (e) {
      // 410 Gone: our version fell out of the watch cache; anything else is the caller's.
      if (!(e instanceof KubeApiError && e.status === 410)) throw e;
    }
    o.signal.throwIfAborted();
  }
}
