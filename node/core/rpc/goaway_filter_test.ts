import assert from "node:assert/strict";
import { GoawayFilter } from "./goaway_filter.ts";

const PREFACE = new TextEncoder().encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

function frame(type: number, stream: number, payload: number[]): number[] {
  const n = payload.length;
  return [n >> 16, (n >> 8) & 255, n & 255, type, 0, 0, 0, 0, stream, ...payload];
}

const SETTINGS = frame(0x4, 0, [0, 3, 0, 0, 0, 100]);
const HEADERS = frame(0x1, 1, [1, 2, 3]);
const GOAWAY = frame(0x7, 0, [0, 0, 0, 1, 0, 0, 0, 0]);
const DATA = frame(0x0, 1, [9, 9]);

/** Feeds `bytes` in pieces of `step` and returns what passes. */
function run(bytes: number[], step: number): { out: number[]; dropped: number } {
  const f = new GoawayFilter();
  const out: number[] = [];
  for (let i = 0; i < bytes.length; i += step) {
    out.push(...f.push(Uint8Array.from(bytes.slice(i, i + step))));
  }
  return { out, dropped: f.dropped };
}

Deno.test("goaway filter: GOAWAY frames vanish, preface and other frames pass byte-exact, any chunking", () => {
  const input = [...PREFACE, ...SETTINGS, ...HEADERS, ...GOAWAY, ...DATA];
  const want = [...PREFACE, ...SETTINGS, ...HEADERS, ...DATA];
  for (const step of [1, 2, 5, 9, 10, 17, input.length]) {
    const r = run(input, step);
    assert.deepEqual(r.out, want, `chunks of ${step}`);
    assert.equal(r.dropped, 1);
  }
});

Deno.test("goaway filter: a stream without GOAWAY passes unchanged", () => {
  const input = [...PREFACE, ...SETTINGS, ...DATA, ...DATA];
  assert.deepEqual(run(input, 7).out, input);
  assert.equal(run(input, 7).dropped, 0);
});
