import assert from "node:assert/strict";
import net from "node:net";
import http from "node:http";
import { Buffer } from "node:buffer";
import {
  encodeAddress,
  ipv6Bytes,
  parseHostPort,
  REPLY,
  socks5Connect,
  Socks5Server,
  SocksError,
  startSocksRelay,
} from "./mod.ts";

/** An echo server prefixing replies with "echo:". */
async function echoServer(host = "127.0.0.1") {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on("data", (d) => s.write(Buffer.concat([Buffer.from("echo:"), d])));
    s.on("error", () => {});
  });
  const port = await new Promise<number>((r) =>
    server.listen(0, host, () => r((server.address() as net.AddressInfo).port))
  );
  return {
    port,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

function exchange(s: net.Socket, msg: string): Promise<string> {
  return new Promise((resolve, reject) => {
    s.once("data", (d) => resolve(d.toString()));
    s.once("error", reject);
    s.resume();
    s.write(msg);
  });
}

async function freePort(): Promise<number> {
  const s = net.createServer();
  const port = await new Promise<number>((r) =>
    s.listen(0, "127.0.0.1", () => r((s.address() as net.AddressInfo).port))
  );
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

Deno.test("address encoding", () => {
  assert.deepEqual([...encodeAddress({ host: "10.1.2.3", port: 7835 })], [
    1,
    10,
    1,
    2,
    3,
    0x1e,
    0x9b,
  ]);
  assert.deepEqual([...ipv6Bytes("::1")], [...Array(15).fill(0), 1]);
  assert.deepEqual([...ipv6Bytes("::ffff:1.2.3.4")].slice(10), [0xff, 0xff, 1, 2, 3, 4]);
  assert.equal(encodeAddress({ host: "node.example", port: 1 })[0], 3);
  assert.deepEqual(parseHostPort("[::1]:80"), { host: "::1", port: 80 });
  assert.throws(() => parseHostPort("nohost"), /expected host:port, got "nohost"/);
});

Deno.test("CONNECT over IPv4, IPv6 and a domain name", async () => {
  const echo4 = await echoServer("127.0.0.1");
  const echo6 = await echoServer("::1");
  const seen: string[] = [];
  const proxy = new Socks5Server({ onRequest: (d, r) => seen.push(`${d.host}:${d.port}=${r}`) });
  const pport = await proxy.listen(0);
  const p = { host: "127.0.0.1", port: pport };
  try {
    for (const host of ["127.0.0.1", "localhost"]) {
      const s = await socks5Connect(p, { host, port: echo4.port });
      assert.equal(await exchange(s, "hi"), "echo:hi");
      s.destroy();
    }
    const s6 = await socks5Connect(p, { host: "::1", port: echo6.port });
    assert.equal(await exchange(s6, "v6"), "echo:v6");
    s6.destroy();
    assert.equal(seen.length, 3);
    assert.ok(seen.every((x) => x.endsWith("=0")), seen.join(" "));
  } finally {
    await proxy.close();
    await echo4.close();
    await echo6.close();
  }
});

Deno.test("refused target: SocksError with reply 5; unsupported command: reply 7", async () => {
  const proxy = new Socks5Server();
  const pport = await proxy.listen(0);
  try {
    const dead = await freePort();
    await assert.rejects(
      socks5Connect({ host: "127.0.0.1", port: pport }, { host: "127.0.0.1", port: dead }),
      (e) => {
        assert.ok(e instanceof SocksError);
        assert.equal(e.reply, REPLY.CONNECTION_REFUSED);
        assert.match(
          e.message,
          new RegExp(`CONNECT to 127\\.0\\.0\\.1:${dead}: connection refused`),
        );
        return true;
      },
    );
    // BIND (cmd 2), hand-written.
    const raw = net.connect({ host: "127.0.0.1", port: pport });
    const got: Buffer[] = [];
    raw.on("data", (d) => got.push(d));
    await new Promise((r) => raw.once("connect", r));
    raw.write(Buffer.from([5, 1, 0]));
    raw.write(Buffer.concat([Buffer.from([5, 2, 0]), encodeAddress({ host: "1.2.3.4", port: 1 })]));
    await new Promise((r) => raw.once("close", r));
    const all = Buffer.concat(got);
    assert.deepEqual([...all.subarray(0, 2)], [5, 0]);
    assert.equal(all[3], REPLY.COMMAND_NOT_SUPPORTED);
  } finally {
    await proxy.close();
  }
});

Deno.test("restricting connect hook maps to 'not allowed'", async () => {
  const proxy = new Socks5Server({
    connect: () => Promise.reject(Object.assign(new Error("no"), { code: "EACCES" })),
  });
  const pport = await proxy.listen(0);
  try {
    await assert.rejects(
      socks5Connect({ host: "127.0.0.1", port: pport }, { host: "10.9.9.9", port: 1 }),
      /connection not allowed by ruleset/,
    );
  } finally {
    await proxy.close();
  }
});

Deno.test("loopback relay forwards every connection through the proxy", async () => {
  const echo = await echoServer();
  const proxy = new Socks5Server();
  const pport = await proxy.listen(0);
  const relay = await startSocksRelay({ host: "127.0.0.1", port: pport }, {
    host: "127.0.0.1",
    port: echo.port,
  });
  try {
    for (let i = 0; i < 3; i++) {
      const s = net.connect({ host: "127.0.0.1", port: relay.port });
      // Data written before the SOCKS handshake finished must not be lost.
      assert.equal(await exchange(s, `m${i}`), `echo:m${i}`);
      s.destroy();
    }
  } finally {
    await relay.close();
    await proxy.close();
    await echo.close();
  }
});

Deno.test("curl (independent client) fetches HTTP through the proxy with remote DNS", async () => {
  const server = http.createServer((_q, r) => r.end("hello via socks"));
  const hport = await new Promise<number>((r) =>
    server.listen(0, "127.0.0.1", () => r((server.address() as net.AddressInfo).port))
  );
  const proxy = new Socks5Server();
  const pport = await proxy.listen(0);
  try {
    const out = await new Deno.Command("curl", {
      args: [
        "-sS",
        "--max-time",
        "10",
        "-x",
        `socks5h://127.0.0.1:${pport}`,
        `http://localhost:${hport}/`,
      ],
    }).output();
    assert.equal(
      new TextDecoder().decode(out.stdout),
      "hello via socks",
      new TextDecoder().decode(out.stderr),
    );
  } finally {
    await proxy.close();
    await new Promise<void>((r) => server.close(() => r()));
  }
});
