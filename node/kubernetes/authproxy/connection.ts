/**
 * One authenticated client connection of the authproxy, relayed over one upstream connection to
 * the apiserver. Requests are parsed head by head so every head can be rewritten (`X-Remote-*`
 * dropped, `X-Remote-User` set); bodies are copied with their exact framing so the next head is
 * found. Responses are parsed too, for one reason: after an `Upgrade` request the client's bytes
 * may only be piped unparsed once the apiserver answered 101 — if it refused, the connection
 * stays in parsed mode, otherwise a client could follow a refused upgrade with a request carrying
 * its own `X-Remote-Group`.
 */
import type { Duplex } from "node:stream";
import {
  copyBody,
  formatRequestHead,
  headerTokens,
  headerValues,
  HttpError,
  latin1Encode,
  parseRequestHead,
  parseResponseHead,
  requestFraming,
  type RequestHead,
  responseFraming,
  StreamReader,
  writeAll,
} from "./http1.ts";

/** Bound of a request or response head (and of a chunked body's trailer section). */
export const MAX_HEAD = 64 * 1024;

/** Kubernetes `StatusReason` of the HTTP statuses the authproxy answers itself. */
const REASONS: Record<number, string> = {
  400: "BadRequest",
  401: "Unauthorized",
  405: "MethodNotAllowed",
  431: "BadRequest",
  501: "BadRequest",
  502: "InternalError",
  503: "ServiceUnavailable",
};

const STATUS_TEXT: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  405: "Method Not Allowed",
  431: "Request Header Fields Too Large",
  501: "Not Implemented",
  502: "Bad Gateway",
  503: "Service Unavailable",
};

/**
 * A complete `Connection: close` response with a Kubernetes `Status` body (what kubectl expects
 * from an apiserver: it prints `reason`/`message`). `withBody` false for answers to HEAD.
 */
export function statusResponse(code: number, message: string, withBody = true): Uint8Array {
  const body = JSON.stringify({
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Failure",
    message: message.slice(0, 300),
    reason: REASONS[code] ?? "InternalError",
    code,
  });
  const bytes = new TextEncoder().encode(body);
  const head = `HTTP/1.1 ${code} ${STATUS_TEXT[code] ?? "Error"}\r\n` +
    "Content-Type: application/json\r\n" +
    `Content-Length: ${bytes.length}\r\n` +
    "Connection: close\r\n\r\n";
  const out = latin1Encode(head);
  if (!withBody) return out;
  const all = new Uint8Array(out.length + bytes.length);
  all.set(out);
  all.set(bytes, out.length);
  return all;
}

/** Ends the writable side and waits (bounded) until the data is flushed. */
export async function endStream(s: Duplex, waitMs = 5000): Promise<void> {
  if (s.destroyed) return;
  await new Promise<void>((resolve) => {
    const t = setTimeout(done, waitMs);
    function done() {
      clearTimeout(t);
      s.off("finish", done);
      s.off("close", done);
      resolve();
    }
    s.once("finish", done);
    s.once("close", done);
    s.end();
  });
}

/** Answers the first request on `client` with `code` and closes; for refused connections. */
export async function refuse(
  client: Duplex,
  reader: StreamReader,
  code: number,
  message: string,
  timeoutMs: number,
): Promise<void> {
  const t = setTimeout(() => client.destroy(), timeoutMs);
  try {
    const head = await reader.readHead(MAX_HEAD).catch(() => null);
    if (head === null) return;
    const isHead = head.startsWith("HEAD ");
    await writeAll(client, statusResponse(code, message, !isHead));
    await endStream(client);
  } catch {
    // The client went away; nothing to tell it.
  } finally {
    clearTimeout(t);
    client.destroy();
  }
}

/** Options of {@link relay}. */
export interface RelayOptions {
  /** The authenticated user (the certificate CN), sent as `X-Remote-User`. */
  user: string;
  /** Opens the upstream connection (TLS to the apiserver with the auth-proxy client cert). */
  dial: () => Promise<Duplex>;
  /** Closes the connection when no request is in flight and no next head arrived in time. */
  idleMs: number;
  /** Reports why a connection ended abnormally (one line). */
  onError?: (message: string) => void;
}

interface Pending {
  method: string;
  upgrade: boolean;
  /** Resolved with whether the upstream switched protocols (upgrade requests only). */
  switched: PromiseWithResolvers<boolean>;
}

/** The request head as forwarded: every `X-Remote-*` removed, `X-Remote-User` set. */
export function rewriteHead(h: RequestHead, user: string): RequestHead {
  const headers = h.headers.filter(([n]) => !/^x-remote-/i.test(n));
  headers.push(["X-Remote-User", user]);
  return { ...h, headers };
}

function isUpgrade(h: RequestHead): boolean {
  return headerValues(h.headers, "upgrade").length > 0 &&
    headerTokens(h.headers, "connection").includes("upgrade");
}

/** Pipes unparsed bytes until end of stream, then ends `to`. */
async function pipeRaw(from: StreamReader, to: Duplex): Promise<void> {
  for (let c = await from.read(); c !== null; c = await from.read()) await writeAll(to, c);
  await endStream(to);
}

/**
 * Relays an authenticated client connection until either side closes. Resolves when the
 * connection is finished (both sockets destroyed); never rejects.
 */
export async function relay(client: Duplex, fromClient: StreamReader, o: RelayOptions) {
  const pending: Pending[] = [];
  let upstream: Duplex | undefined;
  let closed = false;
  let waitingHead = false;
  let raw = false;
  let responding = false;
  let idle: ReturnType<typeof setTimeout> | undefined;

  const closeAll = () => {
    closed = true;
    clearTimeout(idle);
    for (const p of pending) p.switched.resolve(false);
    client.destroy();
    upstream?.destroy();
  };
  const fail = (e: unknown) => {
    if (!closed) o.onError?.((e as Error)?.message ?? String(e));
    closeAll();
  };
  // Idle only while waiting for a head with nothing in flight: a long watch is not idle.
  const updateIdle = () => {
    const isIdle = waitingHead && pending.length === 0 && !responding && !raw && !closed;
    if (isIdle && idle === undefined) idle = setTimeout(closeAll, o.idleMs);
    if (!isIdle && idle !== undefined) {
      clearTimeout(idle);
      idle = undefined;
    }
  };
  const nextHead = async () => {
    waitingHead = true;
    updateIdle();
    try {
      return await fromClient.readHead(MAX_HEAD);
    } finally {
      waitingHead = false;
      updateIdle();
    }
  };
  // Answers a request the authproxy refuses itself, only when no response is outstanding
  // (otherwise it would be taken as the answer to an earlier request).
  const answer = async (code: number, message: string, method: string) => {
    if (pending.length === 0) {
      await writeAll(client, statusResponse(code, message, method !== "HEAD")).catch(() => {});
      await endStream(client);
    }
    closeAll();
  };

  const responses = async (up: StreamReader) => {
    for (;;) {
      const text = await up.readHead(MAX_HEAD);
      if (text === null) break;
      const r = parseResponseHead(text);
      const headBytes = latin1Encode(text + "\r\n");
      if (r.status >= 100 && r.status < 200 && r.status !== 101) {
        await writeAll(client, headBytes); // 100 Continue and the like precede the real answer
        continue;
      }
      const req = pending.shift();
      if (!req) throw new Error("upstream answered without a request");
      if (r.status === 101) {
        if (!req.upgrade) throw new Error("upstream switched protocols without an upgrade request");
        raw = true;
        updateIdle();
        await writeAll(client, headBytes);
        req.switched.resolve(true);
        await pipeRaw(up, client);
        return;
      }
      await writeAll(client, headBytes);
      req.switched.resolve(false);
      responding = true;
      const more = await copyBody(up, client, responseFraming(r.headers, r.status, req.method), {
        maxTrailer: MAX_HEAD,
      });
      if (!more) break;
      responding = false;
      updateIdle();
    }
    // The apiserver closed: whatever the client sends next has nowhere to go.
    await endStream(client);
  };

  const requests = async () => {
    for (;;) {
      let text: string | null;
      try {
        text = await nextHead();
      } catch (e) {
        if (e instanceof HttpError) return await answer(e.status, e.message, "");
        throw e;
      }
      if (text === null) break;
      let head: RequestHead;
      let framing;
      try {
        head = parseRequestHead(text);
        if (head.method === "CONNECT") throw new HttpError(405, "CONNECT is not supported");
        framing = requestFraming(head.headers);
      } catch (e) {
        if (e instanceof HttpError) return await answer(e.status, e.message, "");
        throw e;
      }
      if (!upstream) {
        try {
          upstream = await o.dial();
        } catch (e) {
          o.onError?.(`upstream: ${(e as Error).message}`);
          return await answer(503, "Kubernetes API server not reachable", head.method);
        }
        if (closed) return void upstream.destroy();
        responses(new StreamReader(upstream)).then(closeAll, fail);
      }
      const upgrade = isUpgrade(head);
      const req: Pending = {
        method: head.method,
        upgrade,
        switched: Promise.withResolvers<boolean>(),
      };
      pending.push(req);
      updateIdle();
      await writeAll(upstream, formatRequestHead(rewriteHead(head, o.user)));
      try {
        await copyBody(fromClient, upstream, framing, {
          maxTrailer: MAX_HEAD,
          keepTrailer: (n) => !/^x-remote-/i.test(n),
        });
      } catch (e) {
        // A malformed body cannot be answered in order any more: drop the connection.
        if (e instanceof HttpError) return closeAll();
        throw e;
      }
      if (upgrade && await req.switched.promise) {
        await pipeRaw(fromClient, upstream);
        return;
      }
    }
    // The client is done sending; let outstanding responses finish, then the apiserver closes.
    if (!upstream || pending.length === 0) return closeAll();
    await endStream(upstream);
  };

  await new Promise<void>((resolve) => {
    if (client.destroyed) return resolve();
    client.once("close", resolve);
    requests().catch(fail);
  });
  closeAll();
}
