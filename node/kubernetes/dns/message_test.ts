import assert from "node:assert/strict";
import {
  CLASS_IN,
  decodeMessage,
  DnsFormatError,
  encodeMessage,
  type Message,
  questionEnd,
  TYPE,
} from "./message.ts";

function msg(part: Partial<Message>): Message {
  return {
    id: 0x1234,
    qr: false,
    opcode: 0,
    aa: false,
    tc: false,
    rd: true,
    ra: false,
    rcode: 0,
    questions: [],
    answers: [],
    authority: [],
    additional: [],
    ...part,
  };
}

/** A query as `dig` sends it: `kubernetes.default.svc.cluster.local A`, RD. */
const DIG_QUERY = new Uint8Array([
  0x12,
  0x34,
  0x01,
  0x00,
  0,
  1,
  0,
  0,
  0,
  0,
  0,
  0,
  10,
  ...new TextEncoder().encode("kubernetes"),
  7,
  ...new TextEncoder().encode("default"),
  3,
  ...new TextEncoder().encode("svc"),
  7,
  ...new TextEncoder().encode("cluster"),
  5,
  ...new TextEncoder().encode("local"),
  0,
  0,
  1,
  0,
  1,
]);

Deno.test("decodes a plain query as dig sends it", () => {
  const m = decodeMessage(DIG_QUERY);
  assert.equal(m.id, 0x1234);
  assert.equal(m.qr, false);
  assert.equal(m.rd, true);
  assert.deepEqual(m.questions, [
    { name: "kubernetes.default.svc.cluster.local", type: TYPE.A, class: CLASS_IN },
  ]);
  assert.equal(questionEnd(DIG_QUERY), DIG_QUERY.length);
});

Deno.test("encode then decode gives back every record kind", () => {
  const m = msg({
    qr: true,
    aa: true,
    ra: true,
    rcode: 3,
    questions: [{ name: "_http._tcp.web.ns.svc.cluster.local", type: TYPE.SRV, class: 1 }],
    answers: [
      {
        name: "_http._tcp.web.ns.svc.cluster.local",
        type: TYPE.SRV,
        class: 1,
        ttl: 5,
        data: {
          kind: "srv",
          priority: 0,
          weight: 100,
          port: 80,
          target: "web.ns.svc.cluster.local",
        },
      },
      {
        name: "web.ns.svc.cluster.local",
        type: TYPE.CNAME,
        class: 1,
        ttl: 5,
        data: { kind: "name", name: "example.com" },
      },
    ],
    authority: [{
      name: "cluster.local",
      type: TYPE.SOA,
      class: 1,
      ttl: 5,
      data: {
        kind: "soa",
        mname: "ns.dns.cluster.local",
        rname: "hostmaster.cluster.local",
        serial: 1,
        refresh: 2,
        retry: 3,
        expire: 4,
        minimum: 5,
      },
    }],
    additional: [
      {
        name: "web.ns.svc.cluster.local",
        type: TYPE.A,
        class: 1,
        ttl: 5,
        data: { kind: "a", address: "10.224.0.9" },
      },
      {
        name: "",
        type: TYPE.OPT,
        class: 1232,
        ttl: 0,
        data: { kind: "raw", bytes: new Uint8Array() },
      },
    ],
  });
  const b = encodeMessage(m);
  assert.deepEqual(decodeMessage(b), m);
});

Deno.test("repeated names are compressed to pointers", () => {
  const rr = (a: string) => ({
    name: "web.ns.svc.cluster.local",
    type: TYPE.A,
    class: 1,
    ttl: 5,
    data: { kind: "a" as const, address: a },
  });
  const q = [{ name: "web.ns.svc.cluster.local", type: TYPE.A, class: 1 }];
  const one = encodeMessage(msg({ questions: q, answers: [rr("10.0.0.1")] }));
  const two = encodeMessage(msg({ questions: q, answers: [rr("10.0.0.1"), rr("10.0.0.2")] }));
  // The second record costs a 2-byte pointer + type/class/ttl/len (10) + 4 bytes of address.
  assert.equal(two.length - one.length, 16);
  assert.equal(decodeMessage(two).answers[1].name, "web.ns.svc.cluster.local");
});

Deno.test("names with odd bytes survive a round trip escaped", () => {
  const name = "a\\046b.c\\032d";
  const b = encodeMessage(msg({ questions: [{ name, type: 1, class: 1 }] }));
  assert.equal(decodeMessage(b).questions[0].name, name);
  // 1 + 3 ("a.b") + 1 + 3 ("c d") + root
  assert.equal(b.length, 12 + 9 + 4);
});

Deno.test("a compression pointer loop is rejected, not followed", () => {
  // Question name is a pointer to itself (offset 12).
  const b = new Uint8Array([0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1]);
  assert.throws(() => decodeMessage(b), DnsFormatError);
  // Two labels pointing at each other: the second points forward.
  const c = new Uint8Array([
    0,
    1,
    0,
    0,
    0,
    1,
    0,
    0,
    0,
    0,
    0,
    0,
    1,
    0x61,
    0xc0,
    16,
    0xc0,
    12,
    0,
    1,
    0,
    1,
  ]);
  assert.throws(() => decodeMessage(c), DnsFormatError);
});

Deno.test("truncated, oversized and inconsistent input is a format error", () => {
  assert.throws(() => decodeMessage(new Uint8Array(5)), DnsFormatError);
  assert.throws(() => decodeMessage(DIG_QUERY.subarray(0, DIG_QUERY.length - 1)), DnsFormatError);
  // Claims 65535 questions but carries one.
  const many = DIG_QUERY.slice();
  many[4] = 0xff;
  many[5] = 0xff;
  assert.throws(() => decodeMessage(many), DnsFormatError);
  // Trailing garbage.
  assert.throws(() => decodeMessage(new Uint8Array([...DIG_QUERY, 0])), DnsFormatError);
  // A label longer than the message.
  const long = new Uint8Array([0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 60, 0x61]);
  assert.throws(() => decodeMessage(long), DnsFormatError);
  // A name over 255 bytes built from pointers to a long earlier name is still rejected.
  const labels: number[] = [];
  for (let i = 0; i < 5; i++) labels.push(60, ...new Array(60).fill(0x61));
  const huge = new Uint8Array([0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, ...labels, 0, 0, 1, 0, 1]);
  assert.throws(() => decodeMessage(huge), /255/);
  // A record whose declared data length disagrees with its A payload.
  const badA = encodeMessage(msg({
    answers: [{
      name: "x",
      type: TYPE.A,
      class: 1,
      ttl: 1,
      data: { kind: "raw", bytes: new Uint8Array(3) },
    }],
  }));
  assert.throws(() => decodeMessage(badA), /4 bytes/);
});

Deno.test("random garbage never throws anything but a format error", () => {
  for (let i = 0; i < 2000; i++) {
    const b = crypto.getRandomValues(new Uint8Array(12 + (i % 80)));
    b[4] = 0;
    b[5] = i % 3;
    try {
      decodeMessage(b);
    } catch (e) {
      assert.ok(e instanceof DnsFormatError, String(e));
    }
  }
});
