import assert from "node:assert/strict";
import {
  decodeMessage,
  encodeMessage,
  type Message,
  queryMessage,
  RCODE,
  TYPE,
} from "./message.ts";
import { respond } from "./respond.ts";
import { buildTable, type ServiceInfo, type SliceInfo } from "./table.ts";
import { matchesQuery, parseResolvConf } from "./forward.ts";

function query(name: string, type: number = TYPE.A, part: Partial<Message> = {}): Uint8Array {
  return queryMessage(name, type, { id: 77, ...part });
}

const big: ServiceInfo = {
  namespace: "ns",
  name: "big",
  clusterIPs: [],
  headless: true,
  publishNotReady: false,
  ports: [],
};
const bigSlice: SliceInfo = {
  namespace: "ns",
  service: "big",
  endpoints: Array.from(
    { length: 100 },
    (_, i) => ({ addresses: [`10.192.0.${i + 1}`], ready: true }),
  ),
  ports: [],
};
const table = buildTable([big], [bigSlice]);

function reply(d: ReturnType<typeof respond>): Message {
  assert.equal(d.kind, "reply");
  return decodeMessage((d as { bytes: Uint8Array }).bytes);
}

Deno.test("a cluster answer echoes id, question and RD and is authoritative", () => {
  const m = reply(respond(table, query("big.ns.svc.cluster.local", TYPE.AAAA)));
  assert.equal(m.id, 77);
  assert.equal(m.qr, true);
  assert.equal(m.aa, true);
  assert.equal(m.rd, true);
  assert.deepEqual(m.questions, [{ name: "big.ns.svc.cluster.local", type: TYPE.AAAA, class: 1 }]);
});

Deno.test("an answer too big for UDP is sent empty with TC; TCP gets it whole", () => {
  const udp = reply(respond(table, query("big.ns.svc.cluster.local")));
  assert.equal(udp.tc, true);
  assert.deepEqual(udp.answers, []);
  const tcp = reply(respond(table, query("big.ns.svc.cluster.local"), 65535));
  assert.equal(tcp.tc, false);
  assert.equal(tcp.answers.length, 100);
});

Deno.test("EDNS raises the UDP limit up to 1232 bytes and is echoed", () => {
  const opt = {
    name: "",
    type: TYPE.OPT,
    class: 4096,
    ttl: 0,
    data: { kind: "raw" as const, bytes: new Uint8Array() },
  };
  const m = reply(respond(table, query("big.ns.svc.cluster.local", TYPE.A, { additional: [opt] })));
  // 100 answers × 16 bytes do not fit 1232 either; 60 would.
  assert.equal(m.tc, true);
  assert.equal(m.additional.at(-1)?.type, TYPE.OPT);
  const small = buildTable([big], [{ ...bigSlice, endpoints: bigSlice.endpoints.slice(0, 60) }]);
  const s = reply(respond(small, query("big.ns.svc.cluster.local", TYPE.A, { additional: [opt] })));
  assert.equal(s.tc, false);
  assert.equal(s.answers.length, 60);
  const plain = reply(respond(small, query("big.ns.svc.cluster.local")));
  assert.equal(plain.tc, true, "60 answers exceed 512 bytes without EDNS");
});

Deno.test("garbage with a header gets FORMERR; responses and shorter junk get nothing", () => {
  const bad = new Uint8Array([0, 9, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 50, 1, 2]);
  const m = reply(respond(table, bad));
  assert.equal(m.rcode, RCODE.FORMERR);
  assert.equal(m.id, 9);
  assert.equal(respond(table, new Uint8Array(4)).kind, "drop");
  const resp = query("x.cluster.local", TYPE.A, { qr: true });
  assert.equal(respond(table, resp).kind, "drop");
});

Deno.test("other opcodes get NOTIMP; several questions FORMERR", () => {
  assert.equal(
    reply(respond(table, query("a.cluster.local", 1, { opcode: 2 }))).rcode,
    RCODE.NOTIMP,
  );
  const two = query("a", 1, {
    questions: [{ name: "a", type: 1, class: 1 }, { name: "b", type: 1, class: 1 }],
  });
  assert.equal(reply(respond(table, two)).rcode, RCODE.FORMERR);
});

Deno.test("names outside the cluster are handed back for forwarding", () => {
  const d = respond(table, query("example.com"));
  assert.equal(d.kind, "forward");
});

Deno.test("resolv.conf parsing keeps IPv4 nameservers in order, without ourselves", () => {
  assert.deepEqual(
    parseResolvConf(
      "# x\nnameserver 10.0.0.1\nnameserver 169.254.77.53\nnameserver ::1\nsearch a\n" +
        "nameserver 10.0.0.2 # second\nnameserver 10.0.0.1\n",
    ),
    ["10.0.0.1", "10.0.0.2"],
  );
});

Deno.test("an upstream reply is only relayed with our id and the same question", () => {
  const sent = query("example.com");
  const ok = encodeMessage({ ...decodeMessage(sent), qr: true });
  assert.equal(matchesQuery(sent, ok), true);
  const otherId = ok.slice();
  otherId[1] ^= 1;
  assert.equal(matchesQuery(sent, otherId), false);
  const otherName = encodeMessage({ ...decodeMessage(query("examplf.com")), qr: true });
  assert.equal(matchesQuery(sent, otherName), false);
  assert.equal(matchesQuery(sent, sent), false, "a query is no reply");
});
