/**
 * The authproxy over real TLS against a fake apiserver that requires the auth-proxy client
 * certificate and echoes what it received: who gets through, what headers arrive, keep-alive
 * with bodies, upgrades, and the refusals (401 Status, 400 for ambiguous framing, 503).
 */
import assert from "node:assert/strict";
import tls from "node:tls";
import net from "node:net";
import { PassThrough } from "node:stream";
import { LogTree } from "../../base/logtree/logtree.ts";
import { CA, certificatePem, exportPkcs8Pem, generateEd25519 } from "../../base/pki/mod.ts";
import { MemoryPkiStorage } from "../../base/pki/mod.ts";
import { run, Supervisor, untilAborted } from "../../base/supervisor/supervisor.ts";
import { waitUntil } from "../../base/supervisor/testing.ts";
import { userTemplate } from "../../core/identity/profiles.ts";
import { testCA, type TestCert, testNodeCert, testUserCert } from "../../core/identity/testing.ts";
import { authproxy } from "./authproxy.ts";
import {
  copyBody,
  type Header,
  headerValues,
  parseRequestHead,
  parseResponseHead,
  requestFraming,
  responseFraming,
  StreamReader,
} from "./http1.ts";

interface Seen {
  method: string;
  target: string;
  headers: Header[];
  body: string;
  /** CN of the client certificate the apiserver saw, and whether it chains to id-ca. */
  cn?: string;
  authorized: boolean;
}

async function collect(r: StreamReader, framing: ReturnType<typeof requestFraming>) {
  const sink = new PassThrough();
  const parts: Uint8Array[] = [];
  sink.on("data", (c: Uint8Array) => parts.push(c));
  const more = await copyBody(r, sink, framing, { maxTrailer: 65536 });
  return { body: new TextDecoder().decode(concat(parts)), more };
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** A fake apiserver: echoes each request as JSON; `/exec` upgrades and echoes bytes. */
async function fakeApiserver(cert: Uint8Array, key: CryptoKey, idCaPem: string) {
  const seen: Seen[] = [];
  const server = tls.createServer({
    cert: certificatePem(cert),
    key: await exportPkcs8Pem(key),
    ca: idCaPem,
    requestCert: true,
    rejectUnauthorized: false,
  }, async (s) => {
    s.on("error", () => {});
    const r = new StreamReader(s);
    const peer = s.getPeerCertificate();
    try {
      for (;;) {
        const text = await r.readHead(65536);
        if (text === null) break;
        const h = parseRequestHead(text);
        const { body } = await collect(r, requestFraming(h.headers));
        seen.push({ ...h, body, cn: String(peer?.subject?.CN), authorized: s.authorized });
        if (h.target === "/exec" && headerValues(h.headers, "upgrade").length) {
          s.write(
            "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n\r\n",
          );
          for (let c = await r.read(); c !== null; c = await r.read()) s.write(c);
          s.end();
          return;
        }
        if (h.target === "/watch") {
          // A watch: chunked events with pauses longer than the proxy's idle timeout.
          s.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nev1\r\n");
          await new Promise((r) => setTimeout(r, 500));
          s.write("3\r\nev2\r\n0\r\n\r\n");
          continue;
        }
        const status = h.target === "/deny" ? 403 : 200;
        const out = new TextEncoder().encode(JSON.stringify(seen.at(-1)));
        s.write(`HTTP/1.1 ${status} X\r\nContent-Type: application/json\r\n`);
        s.write(`Content-Length: ${out.length}\r\n\r\n`);
        s.write(out);
      }
    } catch {
      s.destroy();
    }
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  return { seen, server, port: (server.address() as net.AddressInfo).port };
}

interface Reply {
  status: number;
  headers: Header[];
  body: string;
}

/** A raw HTTP/1.1 client over TLS, so tests control every byte (and can pipeline). */
class Client {
  readonly reader: StreamReader;
  private constructor(readonly socket: tls.TLSSocket) {
    this.reader = new StreamReader(socket);
  }

  static async connect(port: number, nodeId: string, caDer: Uint8Array, cert?: TestCert) {
    const socket = tls.connect({
      host: "127.0.0.1",
      port,
      servername: nodeId,
      ca: certificatePem(caDer),
      cert: cert ? certificatePem(cert.certificate) : undefined,
      key: cert ? await exportPkcs8Pem(cert.privateKey) : undefined,
      ALPNProtocols: ["h2", "http/1.1"],
    });
    await new Promise<void>((resolve, reject) => {
      socket.once("secureConnect", () => resolve());
      socket.once("error", reject);
    });
    socket.on("error", () => {});
    return new Client(socket);
  }

  send(s: string) {
    this.socket.write(s);
  }

  async reply(method = "GET"): Promise<Reply> {
    const text = await this.reader.readHead(65536);
    if (text === null) throw new Error("connection closed before a response");
    const r = parseResponseHead(text);
    const { body } = await collect(this.reader, responseFraming(r.headers, r.status, method));
    return { status: r.status, headers: r.headers, body };
  }

  close() {
    this.socket.destroy();
  }
}

async function setup(
  { upstreamUp = true, idleTimeoutMs, handshakeTimeoutMs }: {
    upstreamUp?: boolean;
    idleTimeoutMs?: number;
    handshakeTimeoutMs?: number;
  } = {},
) {
  const ca = testCA();
  const caDer = await ca.certificate();
  const node = await testNodeCert(ca);
  const idCa = new CA({
    storage: new MemoryPkiStorage(),
    name: "id-ca",
    template: { commonName: "id-ca", isCA: true, keyUsage: ["certSign", "digitalSignature"] },
  });
  const idCaPem = certificatePem(await idCa.certificate());
  const apiKey = await generateEd25519();
  const apiCert = await idCa.ensure("apiserver", {
    dnsNames: ["kubernetes"],
    ipAddresses: ["127.0.0.1"],
    keyUsage: ["digitalSignature"],
    extKeyUsage: ["serverAuth"],
    isCA: false,
  }, apiKey.publicKey);
  const proxyKey = await generateEd25519();
  const proxyCert = await idCa.ensure("metropolis-auth-proxy-client", {
    commonName: "metropolis-auth-proxy-client",
    keyUsage: ["digitalSignature"],
    extKeyUsage: ["clientAuth"],
    isCA: false,
  }, proxyKey.publicKey);
  const api = await fakeApiserver(apiCert, apiKey.privateKey, idCaPem);
  if (!upstreamUp) await new Promise<void>((r) => api.server.close(() => r()));

  let port = 0;
  const clientKeyPem = await exportPkcs8Pem(proxyKey.privateKey);
  const sup = new Supervisor(new LogTree(), async (ctx) => {
    run(
      ctx,
      "authproxy",
      authproxy({
        identity: {
          nodeId: node.id,
          certificate: node.certificate,
          privateKey: node.privateKey,
          clusterCA: caDer,
        },
        upstream: `https://127.0.0.1:${api.port}`,
        upstreamCaPem: idCaPem,
        clientCertPem: certificatePem(proxyCert),
        clientKeyPem,
        port: 0,
        host: "127.0.0.1",
        onListening: (p) => port = p,
        idleTimeoutMs,
        handshakeTimeoutMs,
      }),
    );
    await untilAborted(ctx);
  });
  await waitUntil(() => sup.state("root.authproxy") === "HEALTHY", "authproxy healthy");
  const clients: Client[] = [];
  return {
    ca,
    caDer,
    node,
    api,
    get port() {
      return port;
    },
    connect: async (cert?: TestCert) => {
      const c = await Client.connect(port, node.id, caDer, cert);
      clients.push(c);
      return c;
    },
    async close() {
      for (const c of clients) c.close();
      await sup.stop();
      if (upstreamUp) await new Promise<void>((r) => api.server.close(() => r()));
    },
  };
}

function header(h: Header[], name: string): string[] {
  return headerValues(h, name);
}

Deno.test("owner certificate: proxied with X-Remote-User = CN, client X-Remote-* stripped", async () => {
  const env = await setup();
  try {
    const owner = await testUserCert(env.ca, "owner");
    const c = await env.connect(owner);
    assert.equal(c.socket.alpnProtocol, "http/1.1");
    c.send(
      "GET /api/v1/nodes HTTP/1.1\r\nHost: x\r\nX-Remote-User: admin\r\n" +
        "x-remote-group: system:masters\r\nX-REMOTE-EXTRA-scopes: all\r\nAccept: */*\r\n\r\n",
    );
    const r = await c.reply();
    assert.equal(r.status, 200);
    const seen = JSON.parse(r.body) as Seen;
    assert.equal(seen.target, "/api/v1/nodes");
    assert.deepEqual(
      seen.headers.filter(([n]) => /^x-remote-/i.test(n)),
      [["X-Remote-User", "owner"]],
    );
    assert.deepEqual(header(seen.headers, "accept"), ["*/*"]);
    assert.equal(seen.cn, "metropolis-auth-proxy-client");
    assert.equal(seen.authorized, true);
  } finally {
    await env.close();
  }
});

Deno.test("keep-alive: bodies by Content-Length and chunked are forwarded exactly, in order", async () => {
  const env = await setup();
  try {
    const c = await env.connect(await testUserCert(env.ca, "alice"));
    // Pipelined: three requests in one write; the chunked one carries a forged trailer.
    c.send(
      "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello" +
        "POST /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
        "3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nX-Remote-Group: system:masters\r\nX-Ok: 1\r\n\r\n" +
        "GET /c HTTP/1.1\r\nHost: x\r\nX-Remote-Group: system:masters\r\n\r\n",
    );
    const a = JSON.parse((await c.reply()).body) as Seen;
    const b = JSON.parse((await c.reply()).body) as Seen;
    const d = JSON.parse((await c.reply()).body) as Seen;
    assert.deepEqual([a.target, a.body], ["/a", "hello"]);
    assert.equal(b.target, "/b");
    assert.equal(b.body, "3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nX-Ok: 1\r\n\r\n");
    assert.equal(d.target, "/c");
    assert.deepEqual(header(d.headers, "x-remote-group"), []);
    assert.deepEqual(header(d.headers, "x-remote-user"), ["alice"]);
    assert.equal(env.api.seen.length, 3);
  } finally {
    await env.close();
  }
});

async function expect401(env: Awaited<ReturnType<typeof setup>>, cert?: TestCert) {
  const c = await env.connect(cert);
  c.send("GET /api/v1/secrets HTTP/1.1\r\nHost: x\r\n\r\n");
  const r = await c.reply();
  assert.equal(r.status, 401);
  assert.deepEqual(header(r.headers, "content-type"), ["application/json"]);
  const st = JSON.parse(r.body);
  assert.equal(st.kind, "Status");
  assert.equal(st.apiVersion, "v1");
  assert.equal(st.status, "Failure");
  assert.equal(st.reason, "Unauthorized");
  assert.equal(st.code, 401);
  assert.equal(await c.reader.read(), null, "connection closed after the 401");
  return st.message as string;
}

Deno.test("refused with 401 Status and never proxied: no certificate, node, foreign CA, expired", async () => {
  const env = await setup();
  try {
    assert.match(await expect401(env), /certificate required/);
    const otherNode = await testNodeCert(env.ca);
    assert.match(await expect401(env, otherNode), /node certificates/);
    assert.match(await expect401(env, await testUserCert(testCA(), "owner")), /client certificate/);
    const k = await generateEd25519();
    const expired = {
      certificate: await env.ca.ensure("expired", {
        ...userTemplate("owner"),
        notBefore: new Date("2020-01-01T00:00:00Z"),
        notAfter: new Date("2021-01-01T00:00:00Z"),
      }, k.publicKey),
      privateKey: k.privateKey,
    };
    assert.match(await expect401(env, expired), /expired/);
    assert.equal(env.api.seen.length, 0);
  } finally {
    await env.close();
  }
});

Deno.test("upgrade: after the apiserver's 101 bytes are piped both ways", async () => {
  const env = await setup();
  try {
    const c = await env.connect(await testUserCert(env.ca, "owner"));
    c.send(
      "POST /exec HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n" +
        "X-Stream-Protocol-Version: v4.channel.k8s.io\r\nX-Remote-Group: g\r\n\r\n",
    );
    const head = await c.reader.readHead(65536);
    assert.match(head!, /^HTTP\/1\.1 101 /);
    const bytes = "\x00\x01raw bytes GET / HTTP/1.1\r\nX-Remote-User: x\r\n\r\n";
    c.send(bytes);
    let got = "";
    while (got.length < bytes.length) got += new TextDecoder().decode((await c.reader.read())!);
    assert.equal(got, bytes);
    const seen = env.api.seen[0];
    assert.deepEqual(header(seen.headers, "x-remote-group"), []);
    assert.deepEqual(header(seen.headers, "x-remote-user"), ["owner"]);
    assert.deepEqual(header(seen.headers, "upgrade"), ["SPDY/3.1"]);
  } finally {
    await env.close();
  }
});

Deno.test("refused upgrade: the connection stays parsed, later X-Remote-* still stripped", async () => {
  const env = await setup();
  try {
    const c = await env.connect(await testUserCert(env.ca, "owner"));
    c.send(
      "GET /deny HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n" +
        "GET /after HTTP/1.1\r\nHost: x\r\nX-Remote-User: admin\r\n\r\n",
    );
    assert.equal((await c.reply()).status, 403);
    const after = JSON.parse((await c.reply()).body) as Seen;
    assert.equal(after.target, "/after");
    assert.deepEqual(header(after.headers, "x-remote-user"), ["owner"]);
  } finally {
    await env.close();
  }
});

Deno.test("ambiguous requests are answered 400 and not forwarded", async () => {
  const env = await setup();
  try {
    const owner = await testUserCert(env.ca, "owner");
    for (
      const req of [
        "POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "GET / HTTP/1.1\r\nFoo: a\nX-Remote-Group: system:masters\r\n\r\n",
        "GET / HTTP/1.1\r\nFoo: a\r\n X-Remote-Group: system:masters\r\n\r\n",
        "GET / HTTP/1.1\r\nX-Remote-Group : system:masters\r\n\r\n",
      ]
    ) {
      const c = await env.connect(owner);
      c.send(req);
      const r = await c.reply();
      assert.equal(r.status, 400, JSON.stringify(req));
      assert.equal(JSON.parse(r.body).reason, "BadRequest");
    }
    assert.equal(env.api.seen.length, 0);
  } finally {
    await env.close();
  }
});

Deno.test("idle keep-alive connections and stalled handshakes are closed, a quiet watch is not", async () => {
  const env = await setup({ idleTimeoutMs: 300, handshakeTimeoutMs: 300 });
  try {
    const c = await env.connect(await testUserCert(env.ca, "owner"));
    c.send("GET /watch HTTP/1.1\r\nHost: x\r\n\r\n");
    const w = await c.reply();
    assert.equal(w.body, "3\r\nev1\r\n3\r\nev2\r\n0\r\n\r\n");
    const t0 = performance.now();
    assert.equal(await c.reader.read(), null);
    const idle = performance.now() - t0;
    assert.ok(idle > 200 && idle < 2000, `closed after ${idle} ms`);
    // A client that never starts the TLS handshake is dropped after the handshake timeout.
    const rawSock = net.connect(env.port, "127.0.0.1");
    rawSock.on("error", () => {});
    await new Promise((r) => rawSock.once("close", r));
  } finally {
    await env.close();
  }
});

Deno.test("apiserver down: 503 Status", async () => {
  const env = await setup({ upstreamUp: false });
  try {
    const c = await env.connect(await testUserCert(env.ca, "owner"));
    c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    const r = await c.reply();
    assert.equal(r.status, 503);
    assert.equal(JSON.parse(r.body).reason, "ServiceUnavailable");
  } finally {
    await env.close().catch(() => {});
  }
});
