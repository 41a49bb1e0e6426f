/**
 * A small Kubernetes REST client for the agent's own Kubernetes services (reconciler,
 * labelmaker, DNS, clusternet, …): JSON requests and watches over HTTPS with a client
 * certificate. Deliberately not @kubernetes/client-node: that library costs ≈ 0.4 s of start-up
 * and tens of MB of heap per agent, and these services need a handful of verbs.
 */

/** Where and as whom to connect. */
export interface KubeClientOptions {
  /** e.g. `https://127.0.0.1:6443`. */
  server: string;
  /** PEM of the CA the apiserver certificate chains to (id-ca). */
  caPem: string;
  /** PEM client certificate and PKCS#8 key. */
  certPem: string;
  keyPem: string;
}

/** A non-2xx answer of the apiserver, with the Status reason when it sent one. */
export class KubeApiError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

/** One watch event. */
export interface WatchEvent<T = KubeObject> {
  type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";
  object: T;
}

/** Any Kubernetes object (JSON). */
// deno-lint-ignore no-explicit-any -- Kubernetes objects are schemaless JSON here
export type KubeObject = Record<string, any>;

/** Request options. */
export interface RequestOptions {
  /** Content type of the body (default `application/json`; SSA: `application/apply-patch+yaml`). */
  contentType?: string;
  signal?: AbortSignal;
  /** Per-request timeout (default 30 s; not for watches). */
  timeoutMs?: number;
}

const MAX_ERROR = 300;

/** See the module comment. Call {@link close} when done. */
export class KubeClient {
  readonly server: string;
  readonly #http: Deno.HttpClient;

  constructor(o: KubeClientOptions) {
    this.server = o.server.replace(/\/$/, "");
    this.#http = Deno.createHttpClient({ caCerts: [o.caPem], cert: o.certPem, key: o.keyPem });
  }

  /** Performs a request; returns the parsed JSON body. Throws {@link KubeApiError} on non-2xx. */
  async request<T = KubeObject>(
    method: string,
    path: string,
    body?: unknown,
    o: RequestOptions = {},
  ): Promise<T> {
    const signals = [AbortSignal.timeout(o.timeoutMs ?? 30_000)];
    if (o.signal) signals.push(o.signal);
    const r = await fetch(this.server + path, {
      method,
      client: this.#http,
      headers: {
        accept: "application/json",
        ...(body !== undefined ? { "content-type": o.contentType ?? "application/json" } : {}),
      },
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
      signal: AbortSignal.any(signals),
    });
    const text = await r.text();
    if (!r.ok) throw apiError(method, path, r.status, text);
    return (text ? JSON.parse(text) : {}) as T;
  }

  /** GET; undefined when the object does not exist (404). */
  async get<T = KubeObject>(path: string, o: RequestOptions = {}): Promise<T | undefined> {
    try {
      return await this.request<T>("GET", path, undefined, o);
    } catch (e) {
      if (e instanceof KubeApiError && e.status === 404) return undefined;
      throw e;
    }
  }

  /**
   * Watches a collection (`/api/v1/services`, …) from `resourceVersion` (from a preceding LIST);
   * yields events until the server ends the watch or `signal` aborts. An `ERROR` event (e.g. 410
   * Gone) is thrown as a {@link KubeApiError}: the caller lists again.
   */
  async *watch<T = KubeObject>(
    path: string,
    resourceVersion: string,
    signal: AbortSignal,
  ): AsyncGenerator<WatchEvent<T>> {
    const sep = path.includes("?") ? "&" : "?";
    const url = `${this.server}${path}${sep}watch=1&allowWatchBookmarks=true` +
      `&resourceVersion=${encodeURIComponent(resourceVersion)}`;
    const r = await fetch(url, {
      client: this.#http,
      headers: { accept: "application/json" },
      signal,
    });
    if (!r.ok || !r.body) throw apiError("WATCH", path, r.status, await r.text());
    let buf = "";
    const dec = new TextDecoder();
    for await (const chunk of r.body) {
      buf += dec.decode(chunk, { stream: true });
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (!line) continue;
        const ev = JSON.parse(line) as WatchEvent<T>;
        if (ev.type === "ERROR") {
          const st = ev.object as KubeObject;
          throw new KubeApiError(st.code ?? 500, st.reason ?? "", `watch ${path}: ${st.message}`);
        }
        yield ev;
      }
    }
  }

  /** Releases the HTTP client (aborts nothing by itself: abort watches through their signal). */
  close(): void {
    this.#http.close();
  }
}

function apiError(method: string, path: string, status: number, text: string): KubeApiError {
  let reason = "";
  let message = text.slice(0, MAX_ERROR);
  try {
    const st = JSON.parse(text);
    reason = st.reason ?? "";
    if (st.message) message = String(st.message).slice(0, MAX_ERROR);
  } catch { /* not a Status */ }
  return new KubeApiError(status, reason, `${method} ${path}: ${status} ${reason}: ${message}`);
}
