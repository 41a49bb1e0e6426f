/** HTTP/1.1 framing of the authproxy: strict head parsing, head bounds, body boundaries. */
import assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import {
  copyBody,
  HttpError,
  latin1Decode,
  latin1Encode,
  parseRequestHead,
  parseResponseHead,
  requestFraming,
  responseFraming,
  StreamReader,
} from "./http1.ts";

/** A reader fed with `parts` as separate stream chunks, then ended. */
function readerOf(...parts: string[]): StreamReader {
  const s = new PassThrough();
  const r = new StreamReader(s);
  for (const p of parts) s.write(latin1Encode(p));
  s.end();
  return r;
}

async function drain(r: StreamReader): Promise<string> {
  let out = "";
  for (let c = await r.read(); c !== null; c = await r.read()) out += latin1Decode(c);
  return out;
}

Deno.test("readHead finds heads split across chunks, skips leading CRLF, keeps the rest", async () => {
  const r = readerOf("\r\nGET / HT", "TP/1.1\r\nA: b\r", "\n\r\nbody");
  assert.equal(await r.readHead(1024), "GET / HTTP/1.1\r\nA: b\r\n");
  assert.equal(await drain(r), "body");
});

Deno.test("readHead: null on a clean end, 400 inside a head, 431 beyond the bound", async () => {
  assert.equal(await readerOf().readHead(1024), null);
  await assert.rejects(
    readerOf("GET / HTTP/1.1\r\n").readHead(1024),
    (e: HttpError) => e.status === 400,
  );
  await assert.rejects(
    readerOf("GET / HTTP/1.1\r\n", "A: " + "x".repeat(2000)).readHead(1024),
    (e: HttpError) => e.status === 431,
  );
});

Deno.test("request heads: header bytes survive; injection shapes are rejected", () => {
  const h = parseRequestHead("PUT /a?b=c HTTP/1.1\r\nX-A:  v \xe9 \r\nB:\r\n");
  assert.deepEqual(h, {
    method: "PUT",
    target: "/a?b=c",
    version: "1.1",
    headers: [["X-A", "v \xe9"], ["B", ""]],
  });
  for (
    const bad of [
      "GET / HTTP/1.1\r\nA: b\nX-Remote-User: x\r\n", // bare LF
      "GET / HTTP/1.1\r\nA: b\rX-Remote-User: x\r\n", // bare CR
      "GET / HTTP/1.1\r\nA: b\r\n\tX-Remote-User: x\r\n", // obs-fold
      "GET / HTTP/1.1\r\nX-Remote-User : x\r\n", // space before colon
      "GET / HTTP/2.0\r\n",
      "GET  / HTTP/1.1\r\n",
      "GET / HTTP/1.1\r\nA: \x00\r\n",
    ]
  ) {
    assert.throws(() => parseRequestHead(bad), (e: HttpError) => e.status === 400, bad);
  }
});

Deno.test("request framing: length, chunked, none; smuggling shapes rejected", () => {
  assert.deepEqual(requestFraming([["Content-Length", "5"]]), { kind: "length", length: 5 });
  assert.deepEqual(requestFraming([["content-length", "5, 5"]]), { kind: "length", length: 5 });
  assert.deepEqual(requestFraming([["Transfer-Encoding", "Chunked"]]), { kind: "chunked" });
  assert.deepEqual(requestFraming([]), { kind: "none" });
  const bad: [string, string][][] = [
    [["Content-Length", "5"], ["Content-Length", "6"]],
    [["Content-Length", "-1"]],
    [["Content-Length", "0x5"]],
    [["Content-Length", "3"], ["Transfer-Encoding", "chunked"]],
  ];
  for (const h of bad) assert.throws(() => requestFraming(h), (e: HttpError) => e.status === 400);
  assert.throws(
    () => requestFraming([["Transfer-Encoding", "gzip, chunked"]]),
    (e: HttpError) => e.status === 501,
  );
});

Deno.test("response framing: bodiless statuses and HEAD, chunked, length, until close", () => {
  assert.deepEqual(responseFraming([["Content-Length", "9"]], 200, "HEAD"), { kind: "none" });
  assert.deepEqual(responseFraming([], 204, "GET"), { kind: "none" });
  assert.deepEqual(responseFraming([], 304, "GET"), { kind: "none" });
  assert.deepEqual(responseFraming([["Transfer-Encoding", "chunked"]], 200, "GET"), {
    kind: "chunked",
  });
  assert.deepEqual(responseFraming([["Content-Length", "9"]], 200, "GET"), {
    kind: "length",
    length: 9,
  });
  assert.deepEqual(responseFraming([], 200, "GET"), { kind: "close" });
  assert.equal(parseResponseHead("HTTP/1.1 101 Switching Protocols\r\n").status, 101);
  assert.equal(parseResponseHead("HTTP/1.1 200\r\n").status, 200);
});

async function copied(framing: Parameters<typeof copyBody>[2], ...parts: string[]) {
  const r = readerOf(...parts);
  const sink = new PassThrough();
  let out = "";
  sink.on("data", (c: Uint8Array) => out += latin1Decode(c));
  await copyBody(r, sink, framing, {
    maxTrailer: 1024,
    keepTrailer: (n) => !/^x-remote-/i.test(n),
  });
  return { out, rest: await drain(r) };
}

Deno.test("copyBody stops exactly at the end of the body, however the bytes are split", async () => {
  assert.deepEqual(await copied({ kind: "length", length: 5 }, "he", "llo", "GET"), {
    out: "hello",
    rest: "GET",
  });
  assert.deepEqual(
    await copied(
      { kind: "chunked" },
      "a\r\n0123",
      "456789\r",
      "\n0\r\nX-Remote-User: x\r\n\r\nNEXT",
    ),
    { out: "a\r\n0123456789\r\n0\r\n\r\n", rest: "NEXT" },
  );
});

Deno.test("copyBody rejects malformed chunked bodies", async () => {
  for (
    const parts of [
      ["z\r\n"], // not hex
      ["3\r\nabcd\r\n0\r\n\r\n"], // data longer than declared
      ["3 \r\nabc\r\n0\r\n\r\n"], // whitespace after the size
      ["3\r\nab"], // truncated
    ]
  ) {
    await assert.rejects(copied({ kind: "chunked" }, ...parts), HttpError, parts[0]);
  }
});
