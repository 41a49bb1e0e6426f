/**
 * Real TLS + real grpc-js on loopback: the server terminator, the authorizer and the client
 * credentials against each other, plus independent clients (openssl, Python grpcio).
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import * as grpc from "@grpc/grpc-js";
import tls from "node:tls";
import {
  CA,
  certificatePem,
  exportPkcs8Pem,
  generateEd25519,
  issueCertificate,
  rawPublicKey,
  toHex,
} from "../../base/pki/mod.ts";
import { ephemeralCertificate, userTemplate } from "../identity/mod.ts";
import {
  Authorizer,
  authorizeService,
  callerOf,
  type ClientCertificate,
  dial,
  type DialOptions,
  type MethodAuthorization,
  nodeServerIdentityCheck,
  Permission,
  RpcError,
  RpcServer,
} from "./mod.ts";
import { Socks5Server } from "../../base/socks/mod.ts";
import { testCA, testNodeCert, testUserCert } from "../identity/testing.ts";

// ---- A tiny hand-written service (raw bytes; JSON for readability) ----

const ser = (b: Buffer) => b;
const de = (b: Buffer) => b;
function method(name: string, requestStream: boolean, responseStream: boolean) {
  return {
    path: `/test.Svc/${name}`,
    requestStream,
    responseStream,
    requestSerialize: ser,
    requestDeserialize: de,
    responseSerialize: ser,
    responseDeserialize: de,
  };
}
const DEF: grpc.ServiceDefinition = {
  open: method("Open", false, false),
  status: method("Status", false, false),
  approve: method("Approve", false, false),
  any: method("Any", false, false),
  noOption: method("NoOption", false, false),
  fail: method("Fail", false, false),
  stream: method("Stream", false, true),
  upload: method("Upload", true, false),
  chat: method("Chat", true, true),
  hang: method("Hang", false, true),
};
const AUTHZ: Record<string, MethodAuthorization> = {
  "/test.Svc/Open": { need: [], allowUnauthenticated: true },
  "/test.Svc/Status": { need: [Permission.READ_CLUSTER_STATUS], allowUnauthenticated: false },
  "/test.Svc/Approve": { need: [Permission.APPROVE_NODE], allowUnauthenticated: false },
  "/test.Svc/Any": { need: [], allowUnauthenticated: false },
  "/test.Svc/Fail": { need: [], allowUnauthenticated: true },
  "/test.Svc/Stream": { need: [Permission.READ_CLUSTER_STATUS], allowUnauthenticated: false },
  "/test.Svc/Upload": { need: [Permission.READ_CLUSTER_STATUS], allowUnauthenticated: false },
  "/test.Svc/Chat": { need: [Permission.READ_CLUSTER_STATUS], allowUnauthenticated: false },
  "/test.Svc/Hang": { need: [], allowUnauthenticated: true },
};

function describeCaller(call: object): Buffer {
  const c = callerOf(call);
  const out = c.kind === "node"
    ? { kind: c.kind, id: c.nodeId }
    : c.kind === "user"
    ? { kind: c.kind, id: c.identity }
    : { kind: c.kind, key: c.provenKey ? toHex(c.provenKey) : undefined };
  return Buffer.from(JSON.stringify(out));
}

// deno-lint-ignore no-explicit-any
type Any = any;
const IMPL: grpc.UntypedServiceImplementation = {
  open: (call: Any, cb: Any) => cb(null, describeCaller(call)),
  status: (call: Any, cb: Any) => cb(null, describeCaller(call)),
  approve: (call: Any, cb: Any) => cb(null, describeCaller(call)),
  any: (call: Any, cb: Any) => cb(null, describeCaller(call)),
  noOption: (_call: Any, cb: Any) => cb(null, Buffer.from("should not run")),
  fail: async () => {
    await Promise.resolve();
    throw new RpcError(grpc.status.NOT_FOUND, "no such thing");
  },
  stream: (call: Any) => {
    for (let i = 0; i < 3; i++) call.write(describeCaller(call));
    call.end();
  },
  upload: (call: Any, cb: Any) => {
    let n = 0;
    call.on("data", () => n++);
    call.on("end", () => cb(null, Buffer.from(String(n))));
  },
  chat: (call: Any) => {
    call.on("data", (b: Buffer) => call.write(Buffer.concat([Buffer.from("echo:"), b])));
    call.on("end", () => call.end());
  },
  hang: (call: Any) => {
    call.write(Buffer.from("started"));
  },
};

// ---- Fixture ----

interface Fixture {
  ca: CA;
  caDer: Uint8Array;
  otherCa: CA;
  server: RpcServer;
  port: number;
  serverId: string;
  node: ClientCertificate & { id: string };
  user: ClientCertificate;
  decommissioned: ClientCertificate & { id: string };
}

async function withFixture(fn: (f: Fixture) => Promise<void>) {
  const ca = testCA();
  const otherCa = testCA();
  const caDer = await ca.certificate();
  const srv = await testNodeCert(ca);
  const node = await testNodeCert(ca);
  const decommissioned = await testNodeCert(ca);
  const user = await testUserCert(ca, "owner");
  const server = new RpcServer({ certificate: srv.certificate, privateKey: srv.privateKey });
  const authorizer = new Authorizer({
    authorizationOf: (p) => AUTHZ[p],
    peerCertificates: (p) => server.peerCertificates(p),
    clusterCA: caDer,
    nodeAccepted: (id) => id !== decommissioned.id,
  });
  server.grpc.addService(DEF, authorizeService(DEF, IMPL, authorizer));
  const port = await server.listen(0, "127.0.0.1");
  try {
    await fn({ ca, caDer, otherCa, server, port, serverId: srv.id, node, user, decommissioned });
  } finally {
    await server.shutdown(false);
  }
}

function unary(client: grpc.Client, name: string, body = "x"): Promise<string> {
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(
      `/test.Svc/${name}`,
      ser,
      de,
      Buffer.from(body),
      { deadline: Date.now() + 10_000 },
      (err, res) => err ? reject(err) : resolve(res!.toString()),
    );
  });
}

async function rejectsCode(p: Promise<unknown>, code: grpc.status, details?: RegExp) {
  await assert.rejects(p, (e: Any) => {
    assert.equal(e.code, code, `got ${grpc.status[e.code]}: ${e.details}`);
    if (details) assert.match(e.details, details);
    return true;
  });
}

async function client(f: Fixture, opts: Partial<DialOptions> = {}): Promise<grpc.Client> {
  return await dial(`127.0.0.1:${f.port}`, { ca: f.caDer, nodeId: f.serverId, ...opts });
}

// ---- Authentication and authorization ----

Deno.test("node certificate: caller is the node; node permissions only", async () => {
  await withFixture(async (f) => {
    const c = await client(f, { identity: f.node });
    try {
      assert.deepEqual(JSON.parse(await unary(c, "Status")), { kind: "node", id: f.node.id });
      assert.deepEqual(JSON.parse(await unary(c, "Any")), { kind: "node", id: f.node.id });
      await rejectsCode(
        unary(c, "Approve"),
        grpc.status.PERMISSION_DENIED,
        /lacks PERMISSION_APPROVE_NODE/,
      );
      // A cluster certificate on an allow_unauthenticated method proves no key.
      assert.deepEqual(JSON.parse(await unary(c, "Open")), { kind: "unauthenticated" });
    } finally {
      c.close();
    }
  });
});

Deno.test("user certificate: caller is the user with all permissions", async () => {
  await withFixture(async (f) => {
    const c = await client(f, { identity: f.user });
    try {
      assert.deepEqual(JSON.parse(await unary(c, "Approve")), { kind: "user", id: "owner" });
      assert.deepEqual(JSON.parse(await unary(c, "Status")), { kind: "user", id: "owner" });
    } finally {
      c.close();
    }
  });
});

Deno.test("self-signed ephemeral: proven key on open methods, UNAUTHENTICATED elsewhere", async () => {
  await withFixture(async (f) => {
    const k = await generateEd25519();
    const c = await client(f, { identity: { ephemeral: k } });
    try {
      const r = JSON.parse(await unary(c, "Open"));
      assert.deepEqual(r, { kind: "unauthenticated", key: toHex(await rawPublicKey(k.publicKey)) });
      await rejectsCode(unary(c, "Status"), grpc.status.UNAUTHENTICATED, /is not the CA/);
      await rejectsCode(unary(c, "Any"), grpc.status.UNAUTHENTICATED);
    } finally {
      c.close();
    }
  });
});

Deno.test("no client certificate: open methods only", async () => {
  await withFixture(async (f) => {
    const c = await client(f);
    try {
      assert.deepEqual(JSON.parse(await unary(c, "Open")), { kind: "unauthenticated" });
      await rejectsCode(unary(c, "Status"), grpc.status.UNAUTHENTICATED, /no client certificate/);
    } finally {
      c.close();
    }
  });
});

Deno.test("forged node certificate (other CA) is UNAUTHENTICATED", async () => {
  await withFixture(async (f) => {
    const forged = await testNodeCert(f.otherCa);
    const c = await client(f, { identity: forged });
    try {
      await rejectsCode(unary(c, "Status"), grpc.status.UNAUTHENTICATED, /not signed by the CA/);
    } finally {
      c.close();
    }
  });
});

Deno.test("P-256 client certificate signed by the CA is UNAUTHENTICATED", async () => {
  await withFixture(async (f) => {
    const ec = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, [
      "sign",
      "verify",
    ]) as CryptoKeyPair;
    const certificate = await f.ca.ensure("ec", userTemplate("owner"), ec.publicKey);
    const c = await client(f, { identity: { certificate, privateKey: ec.privateKey } });
    try {
      await rejectsCode(unary(c, "Approve"), grpc.status.UNAUTHENTICATED, /not Ed25519/);
      // And a P-256 self-signed-like certificate proves no key on open methods.
      assert.deepEqual(JSON.parse(await unary(c, "Open")), { kind: "unauthenticated" });
    } finally {
      c.close();
    }
  });
});

Deno.test("two client certificates: leaf + another cert UNAUTHENTICATED, leaf + cluster CA ok", async () => {
  await withFixture(async (f) => {
    const other = await generateEd25519();
    const otherCert = await issueCertificate(
      { commonName: "other", isCA: true, keyUsage: ["certSign"] },
      other.publicKey,
      { selfSigned: other },
    );
    const call = async (extra: Uint8Array) => {
      const chain = certificatePem(f.user.certificate) + certificatePem(extra);
      const creds = grpc.credentials.createSsl(
        Buffer.from(certificatePem(f.caDer)),
        Buffer.from(await exportPkcs8Pem(f.user.privateKey)),
        Buffer.from(chain),
        { checkServerIdentity: nodeServerIdentityCheck(f.caDer, f.serverId) },
      );
      return new grpc.Client(`127.0.0.1:${f.port}`, creds, {
        "grpc.ssl_target_name_override": f.serverId,
      });
    };
    const bad = await call(otherCert);
    try {
      await rejectsCode(
        unary(bad, "Approve"),
        grpc.status.UNAUTHENTICATED,
        /exactly one certificate expected, got 2/,
      );
    } finally {
      bad.close();
    }
    // (project) OpenSSL clients append the cluster CA from their trust store: tolerated.
    const ok = await call(f.caDer);
    try {
      await unary(ok, "Approve");
    } finally {
      ok.close();
    }
  });
});

Deno.test("method without an authorization option is INTERNAL", async () => {
  await withFixture(async (f) => {
    const c = await client(f, { identity: f.user });
    try {
      await rejectsCode(unary(c, "NoOption"), grpc.status.INTERNAL, /no authorization policy/);
    } finally {
      c.close();
    }
  });
});

Deno.test("decommissioned / unknown node is UNAUTHENTICATED (leader hook)", async () => {
  await withFixture(async (f) => {
    const c = await client(f, { identity: f.decommissioned });
    try {
      await rejectsCode(unary(c, "Status"), grpc.status.UNAUTHENTICATED, /decommissioned/);
    } finally {
      c.close();
    }
  });
});

Deno.test("async handler throwing RpcError yields its status", async () => {
  await withFixture(async (f) => {
    const c = await client(f);
    try {
      await rejectsCode(unary(c, "Fail"), grpc.status.NOT_FOUND, /no such thing/);
    } finally {
      c.close();
    }
  });
});

function collect(call: grpc.ClientReadableStream<Buffer>): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const out: string[] = [];
    call.on("data", (b: Buffer) => out.push(b.toString()));
    call.on("error", reject);
    call.on("end", () => resolve(out));
  });
}

Deno.test("streaming kinds are authorized too", async () => {
  await withFixture(async (f) => {
    const node = await client(f, { identity: f.node });
    const anon = await client(f);
    try {
      const s = await collect(
        node.makeServerStreamRequest("/test.Svc/Stream", ser, de, Buffer.from("")),
      );
      assert.equal(s.length, 3);
      assert.deepEqual(JSON.parse(s[0]), { kind: "node", id: f.node.id });
      await rejectsCode(
        collect(anon.makeServerStreamRequest("/test.Svc/Stream", ser, de, Buffer.from(""))),
        grpc.status.UNAUTHENTICATED,
      );

      const upload = (c: grpc.Client) =>
        new Promise<string>((resolve, reject) => {
          const call = c.makeClientStreamRequest(
            "/test.Svc/Upload",
            ser,
            de,
            (err, res) => err ? reject(err) : resolve(res!.toString()),
          );
          for (let i = 0; i < 5; i++) call.write(Buffer.from("m"));
          call.end();
        });
      assert.equal(await upload(node), "5");
      await rejectsCode(upload(anon), grpc.status.UNAUTHENTICATED);

      const chat = (c: grpc.Client) => {
        const call = c.makeBidiStreamRequest("/test.Svc/Chat", ser, de);
        const p = collect(call as unknown as grpc.ClientReadableStream<Buffer>);
        call.write(Buffer.from("a"));
        call.write(Buffer.from("b"));
        call.end();
        return p;
      };
      assert.deepEqual(await chat(node), ["echo:a", "echo:b"]);
      await rejectsCode(chat(anon), grpc.status.UNAUTHENTICATED);
    } finally {
      node.close();
      anon.close();
    }
  });
});

// ---- Client-side verification ----

Deno.test("channels to one node as one identity share a TLS connection; closing one keeps it", async () => {
  await withFixture(async (f) => {
    const a = await client(f, { identity: f.node });
    const b = await client(f, { identity: f.node });
    assert.equal(JSON.parse(await unary(a, "Any")).id, f.node.id);
    assert.equal(JSON.parse(await unary(b, "Any")).id, f.node.id);
    assert.equal(f.server.peers.size, 1);
    // Another expected node ID, or another identity, is another connection.
    const unpinned = await client(f, { identity: f.node, nodeId: undefined });
    const asUser = await client(f, { identity: f.user });
    assert.equal(JSON.parse(await unary(unpinned, "Any")).id, f.node.id);
    assert.equal(JSON.parse(await unary(asUser, "Any")).kind, "user");
    assert.equal(f.server.peers.size, 3);
    a.close();
    assert.equal(JSON.parse(await unary(b, "Any")).id, f.node.id);
    for (const c of [b, unpinned, asUser]) c.close();
  });
});

Deno.test("client refuses a server with another node ID or from another CA", async () => {
  await withFixture(async (f) => {
    const wrongId = await client(f, { nodeId: "metropolis-" + "0".repeat(32) });
    const otherCa = await client(f, { ca: await f.otherCa.certificate() });
    const anyId = await client(f, { nodeId: undefined });
    try {
      await rejectsCode(unary(wrongId, "Open"), grpc.status.UNAVAILABLE, /expected metropolis-0/);
      await rejectsCode(unary(otherCa, "Open"), grpc.status.UNAVAILABLE);
      // Node ID unknown: chain verified, ID read from the certificate; IP target works.
      assert.deepEqual(JSON.parse(await unary(anyId, "Open")), { kind: "unauthenticated" });
    } finally {
      wrongId.close();
      otherCa.close();
      anyId.close();
    }
  });
});

Deno.test("client refuses a server whose certificate is a user certificate", async () => {
  const ca = testCA();
  const k = await generateEd25519();
  const bad = await ca.ensure("owner", userTemplate("owner"), k.publicKey);
  const server = new RpcServer({ certificate: bad, privateKey: k.privateKey });
  server.grpc.addService(DEF, IMPL);
  const port = await server.listen(0, "127.0.0.1");
  const c = await dial(`127.0.0.1:${port}`, { ca: await ca.certificate() });
  try {
    // rustls already refuses a leaf without serverAuth EKU; our check would refuse it too.
    await rejectsCode(
      unary(c, "Open"),
      grpc.status.UNAVAILABLE,
      /not a cluster node|unable to verify/,
    );
  } finally {
    c.close();
    await server.shutdown(false);
  }
});

Deno.test("TOFU (no CA) accepts the server", async () => {
  await withFixture(async (f) => {
    const k = await generateEd25519();
    const c = await dial(`127.0.0.1:${f.port}`, { identity: { ephemeral: k } });
    try {
      const r = JSON.parse(await unary(c, "Open"));
      assert.equal(r.key, toHex(await rawPublicKey(k.publicKey)));
    } finally {
      c.close();
    }
  });
});

Deno.test("IPv6 loopback peers are mapped too", async () => {
  await withFixture(async (f) => {
    // The fixture listens on 127.0.0.1; start a second server on ::1 sharing nothing.
    const srv = await testNodeCert(f.ca);
    const server = new RpcServer({ certificate: srv.certificate, privateKey: srv.privateKey });
    const authorizer = new Authorizer({
      authorizationOf: (p) => AUTHZ[p],
      peerCertificates: (p) => server.peerCertificates(p),
      clusterCA: f.caDer,
    });
    server.grpc.addService(DEF, authorizeService(DEF, IMPL, authorizer));
    const port = await server.listen(0, "::1");
    const c = await dial(`[::1]:${port}`, { ca: f.caDer, identity: f.user });
    try {
      assert.deepEqual(JSON.parse(await unary(c, "Approve")), { kind: "user", id: "owner" });
    } finally {
      c.close();
      await server.shutdown(false);
    }
  });
});

Deno.test("dial through a SOCKS5 proxy (loopback relay), node ID still verified", async () => {
  await withFixture(async (f) => {
    const proxy = new Socks5Server();
    const pport = await proxy.listen(0);
    const c = await client(f, { identity: f.user, socks5: `127.0.0.1:${pport}` });
    const wrong = await client(f, {
      socks5: `127.0.0.1:${pport}`,
      nodeId: "metropolis-" + "1".repeat(32),
    });
    try {
      assert.deepEqual(JSON.parse(await unary(c, "Approve")), { kind: "user", id: "owner" });
      await rejectsCode(unary(wrong, "Open"), grpc.status.UNAVAILABLE, /expected metropolis-1/);
    } finally {
      c.close();
      wrong.close();
      await proxy.close();
    }
  });
});

// ---- Transport properties ----

Deno.test("pings every second without calls cause no GOAWAY", async () => {
  await withFixture(async (f) => {
    const c = await client(f, {
      channelOptions: { "grpc.keepalive_time_ms": 1000, "grpc.keepalive_timeout_ms": 1000 },
    });
    try {
      await unary(c, "Open");
      const ch = c.getChannel();
      const states: grpc.connectivityState[] = [];
      let watching = true;
      const watch = (s: grpc.connectivityState) => {
        if (!watching) return;
        ch.watchConnectivityState(s, Date.now() + 60_000, () => {
          const n = ch.getConnectivityState(false);
          states.push(n);
          watch(n);
        });
      };
      watch(ch.getConnectivityState(false));
      await new Promise((r) => setTimeout(r, 5500));
      watching = false;
      assert.deepEqual(
        states,
        [],
        `channel left READY: ${states.map((s) => grpc.connectivityState[s])}`,
      );
      assert.equal(ch.getConnectivityState(false), grpc.connectivityState.READY);
      assert.equal(f.server.peers.size, 1, "one connection for the whole time");
      await unary(c, "Open");
    } finally {
      c.close();
    }
  });
});

Deno.test("forced shutdown ends running streams; graceful shutdown finishes", async () => {
  await withFixture(async (f) => {
    const c = await client(f);
    try {
      const call = c.makeServerStreamRequest("/test.Svc/Hang", ser, de, Buffer.from(""));
      const first = new Promise((r) => call.once("data", r));
      const ended = new Promise<Any>((r) => call.on("error", r));
      await first;
      await f.server.shutdown(false);
      const err = await ended;
      assert.ok(
        [grpc.status.UNAVAILABLE, grpc.status.CANCELLED, grpc.status.INTERNAL].includes(err.code),
        `${err.code} ${err.details}`,
      );
    } finally {
      c.close();
    }
  });
  // Graceful with no calls returns promptly.
  const ca = testCA();
  const srv = await testNodeCert(ca);
  const s = new RpcServer({ certificate: srv.certificate, privateKey: srv.privateKey });
  await s.listen(0, "127.0.0.1");
  const t0 = performance.now();
  await s.shutdown(true, 5000);
  assert.ok(performance.now() - t0 < 2000);
});

// ---- Independent clients ----

async function run(cmd: string, args: string[], stdin = "", env: Record<string, string> = {}) {
  const p = new Deno.Command(cmd, { args, stdin: "piped", stdout: "piped", stderr: "piped", env })
    .spawn();
  const w = p.stdin.getWriter();
  await w.write(new TextEncoder().encode(stdin));
  await w.close();
  const o = await p.output();
  return {
    code: o.code,
    text: new TextDecoder().decode(o.stdout) + new TextDecoder().decode(o.stderr),
  };
}

Deno.test("openssl s_client: no CA names, ALPN h2, Ed25519 self-signed client cert", async () => {
  await withFixture(async (f) => {
    const dir = await Deno.makeTempDir({ prefix: "rpc-test-" });
    try {
      const k = await generateEd25519();
      await Deno.writeTextFile(`${dir}/c.pem`, certificatePem(await ephemeralCertificate(k)));
      await Deno.writeTextFile(`${dir}/k.pem`, await exportPkcs8Pem(k.privateKey));
      for (const v of ["-tls1_2", "-tls1_3"]) {
        const r = await run("openssl", [
          "s_client",
          "-connect",
          `127.0.0.1:${f.port}`,
          v,
          "-alpn",
          "h2",
          "-cert",
          `${dir}/c.pem`,
          "-key",
          `${dir}/k.pem`,
          "-showcerts",
        ], "");
        assert.match(r.text, /No client certificate CA names sent/, r.text);
        assert.match(r.text, /ALPN protocol: h2/, r.text);
        assert.match(r.text, v === "-tls1_2" ? /Protocol *: TLSv1\.2/ : /TLSv1\.3/, r.text);
        // The server sends exactly one certificate: the node certificate.
        assert.equal((r.text.match(/-----BEGIN CERTIFICATE-----/g) ?? []).length, 1);
        assert.match(r.text, new RegExp(`CN ?= ?${f.serverId}`));
      }
      const old = await run("openssl", ["s_client", "-connect", `127.0.0.1:${f.port}`, "-tls1_1"]);
      assert.match(old.text, /Cipher is \(NONE\)/, "TLS 1.1 is refused");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
});

Deno.test("a TLS client that offers no ALPN is served HTTP/2", async () => {
  await withFixture(async (f) => {
    const socket = tls.connect({ port: f.port, host: "127.0.0.1", rejectUnauthorized: false });
    try {
      await new Promise<void>((r, j) => socket.once("secureConnect", r).once("error", j));
      assert.equal(socket.alpnProtocol, false);
      const first = new Promise<Buffer>((r) => socket.once("data", r));
      socket.write("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
      socket.write(Uint8Array.of(0, 0, 0, 4, 0, 0, 0, 0, 0)); // empty SETTINGS
      const b = await first;
      assert.equal(b[3], 4, "the server's first frame is its SETTINGS");
    } finally {
      socket.destroy();
    }
  });
});

/** Debian's interpreter: python3-grpcio is installed for it (not for a pyenv python on PATH). */
const PYTHON = "/usr/bin/python3";
const hasGrpcio = new Deno.Command(PYTHON, { args: ["-c", "import grpc"] }).outputSync().success;

Deno.test({
  name: "Python grpcio with an Ed25519 self-signed client cert calls an open method",
  ignore: !hasGrpcio,
  fn: async () => {
    await withFixture(async (f) => {
      const k = await generateEd25519();
      const py = `
import grpc, sys
ca, cert, key, target, sni = [open(p,'rb').read() if i < 3 else p for i, p in enumerate(sys.argv[1:])]
creds = grpc.ssl_channel_credentials(root_certificates=ca, private_key=key, certificate_chain=cert)
ch = grpc.secure_channel(target, creds, options=[('grpc.ssl_target_name_override', sni)])
m = ch.unary_unary('/test.Svc/Open')
print(m(b'x', timeout=10).decode())
`;
      const dir = await Deno.makeTempDir({ prefix: "rpc-test-" });
      try {
        await Deno.writeTextFile(`${dir}/ca.pem`, certificatePem(f.caDer));
        await Deno.writeTextFile(`${dir}/c.pem`, certificatePem(await ephemeralCertificate(k)));
        await Deno.writeTextFile(`${dir}/k.pem`, await exportPkcs8Pem(k.privateKey));
        await Deno.writeTextFile(`${dir}/t.py`, py);
        const r = await run(PYTHON, [
          `${dir}/t.py`,
          `${dir}/ca.pem`,
          `${dir}/c.pem`,
          `${dir}/k.pem`,
          `127.0.0.1:${f.port}`,
          f.serverId,
        ]);
        assert.equal(r.code, 0, r.text);
        const out = JSON.parse(r.text.trim().split("\n").at(-1)!);
        assert.deepEqual(out, {
          kind: "unauthenticated",
          key: toHex(await rawPublicKey(k.publicKey)),
        });
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    });
  },
});
