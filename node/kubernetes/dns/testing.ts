/**
 * A fake apiserver for tests of informer users (DNS, clusternet): collections held in memory,
 * LIST answered from them, and WATCH streams fed by {@link FakeKube.emit}. Only the members
 * {@link ../client/client.ts KubeClient} callers use here are implemented.
 * @module
 */
import {
  KubeApiError,
  type KubeClient,
  type KubeObject,
  type WatchEvent,
} from "../client/client.ts";
import dgram from "node:dgram";
import { objectKey } from "./informer.ts";
import { decodeMessage, encodeMessage, TYPE } from "./message.ts";

interface Stream {
  path: string;
  queue: (WatchEvent | Error | "end")[];
  wake?: () => void;
}

/** See the module comment. */
export class FakeKube {
  readonly collections = new Map<string, Map<string, KubeObject>>();
  readonly #streams = new Set<Stream>();
  #rv = 1;
  /** Paths of every LIST, in order (relists are visible here). */
  readonly lists: string[] = [];
  /** Requests other than LIST (method, path, body). */
  readonly requests: { method: string; path: string; body: unknown }[] = [];
  /** Answers for non-LIST requests, by `METHOD path`. */
  readonly handlers = new Map<string, (body: unknown) => KubeObject>();

  /** This fake typed as the real client. */
  get client(): KubeClient {
    return this as unknown as KubeClient;
  }

  /** Number of open watches on `path`. */
  watchers(path: string): number {
    return [...this.#streams].filter((s) => s.path === path).length;
  }

  #coll(path: string): Map<string, KubeObject> {
    let c = this.collections.get(path);
    if (!c) this.collections.set(path, c = new Map());
    return c;
  }

  /** Changes the stored collection and sends the event to the open watches on `path`. */
  emit(path: string, type: "ADDED" | "MODIFIED" | "DELETED", object: KubeObject): void {
    const o = { ...object, metadata: { ...object.metadata, resourceVersion: String(++this.#rv) } };
    const k = objectKey(o)!;
    if (type === "DELETED") this.#coll(path).delete(k);
    else this.#coll(path).set(k, o);
    this.#push(path, { type, object: o });
  }

  /** Ends the open watches on `path` with a 410 Gone (or `error`), or just ends them. */
  endWatches(path: string, error?: Error | "gone"): void {
    const e = error === "gone"
      ? new KubeApiError(410, "Expired", "too old resource version")
      : error;
    this.#push(path, e ?? "end");
  }

  #push(path: string, item: WatchEvent | Error | "end"): void {
    for (const s of this.#streams) {
      if (s.path !== path) continue;
      s.queue.push(item);
      s.wake?.();
    }
  }

  request(method: string, path: string, body?: unknown): Promise<KubeObject> {
    if (method === "GET" && !this.handlers.has(`GET ${path}`)) {
      this.lists.push(path);
      return Promise.resolve({
        metadata: { resourceVersion: String(this.#rv) },
        items: [...this.#coll(path).values()],
      });
    }
    this.requests.push({ method, path, body });
    const h = this.handlers.get(`${method} ${path}`);
    if (!h) return Promise.reject(new KubeApiError(404, "NotFound", `${method} ${path}`));
    return Promise.resolve(h(body));
  }

  async *watch(path: string, _rv: string, signal: AbortSignal): AsyncGenerator<WatchEvent> {
    const s: Stream = { path, queue: [] };
    this.#streams.add(s);
    try {
      for (;;) {
        while (s.queue.length === 0) {
          signal.throwIfAborted();
          await new Promise<void>((resolve) => {
            s.wake = resolve;
            signal.addEventListener("abort", () => resolve(), { once: true });
          });
          s.wake = undefined;
        }
        const item = s.queue.shift()!;
        if (item === "end") return;
        if (item instanceof Error) throw item;
        yield item;
      }
    } finally {
      this.#streams.delete(s);
    }
  }
}

/** See {@link fakeUpstream}. */
export interface FakeUpstream {
  /** TCP connections answered so far. */
  readonly tcpQueries: number;
  close(): void;
}

/**
 * An upstream resolver answering every A question with 192.0.2.1, over UDP and TCP on
 * `hostname:port`; resolves once both sockets are bound.
 */
export async function fakeUpstream(port: number, hostname = "127.0.0.1"): Promise<FakeUpstream> {
  const answer = (b: Uint8Array) => {
    const q = decodeMessage(b);
    return encodeMessage({
      ...q,
      qr: true,
      ra: true,
      answers: [{
        name: q.questions[0].name,
        type: TYPE.A,
        class: 1,
        ttl: 60,
        data: { kind: "a", address: "192.0.2.1" },
      }],
    });
  };
  const udp = dgram.createSocket("udp4");
  udp.on("message", (m, r) => udp.send(answer(new Uint8Array(m)), r.port, r.address));
  await new Promise<void>((resolve, reject) => {
    udp.once("error", reject);
    udp.bind(port, hostname, () => resolve());
  });
  const tcp = Deno.listen({ hostname, port });
  let tcpQueries = 0;
  (async () => {
    for await (const c of tcp) {
      tcpQueries++;
      const b = new Uint8Array(1024);
      const n = (await c.read(b)) ?? 0;
      const r = answer(b.subarray(2, n));
      await c.write(new Uint8Array([r.length >> 8, r.length & 0xff, ...r]));
      c.close();
    }
  })().catch(() => {});
  return {
    get tcpQueries() {
      return tcpQueries;
    },
    close() {
      udp.close();
      tcp.close();
    },
  };
}
