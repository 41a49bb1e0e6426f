import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { stackLocation } from "./logger.ts";
import { dnError, isAtOrBelow, validateDN } from "./dn.ts";
import type { LogEntry } from "./entry.ts";
import { formatConcise, formatEntry, shortenDN } from "./format.ts";
import { LogTree, RETENTION_PER_DN } from "./logtree.ts";
import { READER_BUFFER } from "./reader.ts";

Deno.test('§5 DN validation: dot-separated, parts non-empty, no whitespace, root is ""', () => {
  for (const ok of ["", "root", "root.role.consensus", "a-b_c.d:e"]) {
    assert.equal(dnError(ok), undefined);
  }
  for (const bad of [".", "a.", ".a", "a..b", "a b", "a\tb", "a.b\n"]) {
    assert.throws(() => validateDN(bad), /invalid DN/, bad);
  }
  assert.ok(isAtOrBelow("a.b", "a") && isAtOrBelow("a", "") && !isAtOrBelow("ab", "a"));
  const t = new LogTree();
  assert.throws(() => t.logger(""), /cannot write to the root/);
  assert.throws(() => t.read("a..b"), /invalid DN "a\.\.b": empty part/);
});

Deno.test("§5 writing to a.b does not write to a; subtree selection happens on read", () => {
  const t = new LogTree();
  t.logger("a.b").info("child");
  assert.equal(t.read("a", { backlog: "all" }).backlog.length, 0);
  const all = t.read("a", { backlog: "all", withChildren: true }).backlog;
  assert.deepEqual(all.map((e) => e.dn), ["a.b"]);
  assert.equal(t.read("", { backlog: "all", withChildren: true }).backlog.length, 1);
});

Deno.test("§5 leveled entry: message split at \\n kept atomic, severity, caller location", () => {
  const t = new LogTree();
  const l = t.logger("root.x");
  const before = Date.now() * 1000;
  const line = Number(new Error().stack!.match(/logtree_test\.ts:(\d+)/)![1]) + 1;
  l.warning("first\nsecond", 42, { k: 1 });
  const [e] = t.read("root.x", { backlog: "all" }).backlog;
  assert.ok(e.leveled && !e.raw);
  assert.deepEqual(e.leveled.lines, ["first", 'second 42 {"k":1}']);
  assert.equal(e.leveled.severity, "WARNING");
  assert.equal(e.leveled.location, `logtree_test.ts:${line}`);
  assert.ok(e.leveled.timeUs >= before - 1000 && e.leveled.timeUs <= Date.now() * 1000 + 1000);
  l.log("ERROR", "given", { location: "x.go:7", timeUs: 5 });
  const [, e2] = t.read("root.x", { backlog: "all" }).backlog;
  assert.deepEqual(e2.leveled, {
    lines: ["given"],
    timeUs: 5,
    severity: "ERROR",
    location: "x.go:7",
  });
});

Deno.test("§5 raw lines are cut at 1024 bytes with original_length and '...'", () => {
  const t = new LogTree();
  t.logRaw("r", "x".repeat(1024));
  t.logRaw("r", "y".repeat(1500));
  // A multi-byte character straddling the cut is not split.
  t.logRaw("r", "z".repeat(1023) + "é" + "z");
  const [a, b, c] = t.read("r", { backlog: "all" }).backlog;
  assert.deepEqual([a.raw!.data.length, a.raw!.originalLength], [1024, 0]);
  assert.deepEqual([b.raw!.data.length, b.raw!.originalLength], [1024, 1500]);
  assert.ok(formatEntry(b)[0].endsWith("y..."));
  assert.ok(!formatEntry(a)[0].endsWith("..."));
  assert.deepEqual([c.raw!.data, c.raw!.originalLength], ["z".repeat(1023), 1026]);
});

Deno.test("§5 raw line writer splits a byte stream into lines across chunks", () => {
  const t = new LogTree();
  const w = t.rawWriter("s");
  const enc = new TextEncoder();
  w.write(enc.encode("one\ntw"));
  w.write(enc.encode("o\r\nthr"));
  w.write("ee\n\nlast");
  assert.deepEqual(t.read("s", { backlog: "all" }).backlog.map((e) => e.raw!.data), [
    "one",
    "two",
    "three",
    "",
  ]);
  w.flush();
  const all = t.read("s", { backlog: "all" }).backlog;
  assert.equal(all.at(-1)!.raw!.data, "last");
  // A line far longer than the writer's buffer still reports its full length.
  w.write("q".repeat(100_000) + "\n");
  const big = t.read("s", { backlog: 1 }).backlog[0];
  assert.deepEqual([big.raw!.data.length, big.raw!.originalLength], [1024, 100_000]);
});

Deno.test("§5 retention keeps the newest 8192 entries per DN", () => {
  const t = new LogTree();
  const l = t.logger("busy");
  t.logger("quiet").info("keep me");
  for (let i = 0; i < RETENTION_PER_DN + 100; i++) l.log("INFO", `m${i}`, { location: "t:1" });
  const got = t.read("busy", { backlog: "all" }).backlog;
  assert.equal(got.length, 8192);
  assert.equal(got[0].leveled!.lines[0], "m100");
  assert.equal(got.at(-1)!.leveled!.lines[0], `m${RETENTION_PER_DN + 99}`);
  assert.equal(t.read("quiet", { backlog: "all" }).backlog.length, 1);
});

Deno.test("§5 read options: backlog none/all/last N in time order, kinds and severity", () => {
  const t = new LogTree();
  t.logger("a").info("1");
  t.logRaw("a.b", "2");
  t.logger("a.c").error("3");
  t.logger("a").warning("4");
  t.logRaw("z", "5");
  const text = (es: LogEntry[]) => es.map((e) => e.leveled?.lines[0] ?? e.raw!.data);
  const rd = (o: Parameters<LogTree["read"]>[1]) => text(t.read("a", o).backlog);
  assert.deepEqual(rd({}), []);
  assert.deepEqual(rd({ backlog: "none" }), []);
  assert.deepEqual(rd({ backlog: "all" }), ["1", "4"]);
  assert.deepEqual(rd({ backlog: "all", withChildren: true }), ["1", "2", "3", "4"]);
  assert.deepEqual(rd({ backlog: 2, withChildren: true }), ["3", "4"]);
  assert.deepEqual(rd({ backlog: 3, withChildren: true, onlyLeveled: true }), ["1", "3", "4"]);
  assert.deepEqual(rd({ backlog: "all", withChildren: true, onlyRaw: true }), ["2"]);
  assert.deepEqual(rd({ backlog: "all", withChildren: true, minSeverity: "WARNING" }), ["3", "4"]);
  // A minimum severity drops raw entries, so with onlyRaw nothing is left (not an error).
  assert.deepEqual(
    rd({ backlog: "all", withChildren: true, onlyRaw: true, minSeverity: "INFO" }),
    [],
  );
  assert.throws(() => t.read("a", { onlyRaw: true, onlyLeveled: true }), /onlyRaw and onlyLeveled/);
  assert.throws(() => t.read("a", { backlog: 0 }), /backlog must be/);
});

Deno.test("§5 stream delivers live entries after the backlog, filtered", async () => {
  const t = new LogTree();
  t.logger("s").info("old");
  const r = t.read("s", { backlog: "all", stream: true, withChildren: true, minSeverity: "ERROR" });
  assert.equal(r.backlog.length, 0);
  t.logger("s.x").info("filtered out");
  t.logRaw("s", "raw filtered out");
  t.logger("other").error("other DN");
  t.logger("s.x").error("wanted");
  const e = await r.next();
  assert.equal(e!.leveled!.lines[0], "wanted");
  assert.equal(t.readerCount, 1);
  r.close();
  assert.equal(t.readerCount, 0);
  assert.equal(await r.next(), undefined);
});

Deno.test("§5 live reader overflow: 128 buffered, the rest dropped and counted, writer not blocked", async () => {
  const t = new LogTree();
  const r = t.read("", { stream: true, withChildren: true });
  const l = t.logger("w");
  for (let i = 0; i < 1000; i++) l.log("INFO", `m${i}`, { location: "t:1" });
  assert.equal(r.buffered, READER_BUFFER);
  assert.equal(r.missed, 1000 - 128);
  assert.equal((await r.next())!.leveled!.lines[0], "m0");
  l.info("after");
  const got: string[] = [];
  for (let i = 0; i < 128; i++) got.push((await r.next())!.leveled!.lines[0]);
  assert.equal(got.at(-1), "after");
  r.close();
});

const T = Date.UTC(2026, 10, 21, 18, 4, 5) * 1000 + 123456;
const entry = (dn: string, lines: string[], sev: "INFO" | "WARNING" = "INFO"): LogEntry => ({
  dn,
  seq: 1,
  leveled: { lines, timeUs: T, severity: sev, location: "cluster.ts:88" },
});

Deno.test("§5 text format: leveled and raw are byte-exact", () => {
  assert.deepEqual(formatEntry(entry("root.enrolment", ["Cluster enrolment done."])), [
    "root.enrolment                   I1121 18:04:05.123456 cluster.ts:88] Cluster enrolment done.",
  ]);
  assert.deepEqual(formatEntry(entry("root.x", ["a", "b"], "WARNING")), [
    "root.x                           W1121 18:04:05.123456 cluster.ts:88] a",
    "root.x                           W1121 18:04:05.123456 cluster.ts:88] b",
  ]);
  const raw: LogEntry = {
    dn: "stdout",
    seq: 2,
    raw: { data: "hello", originalLength: 0, timeUs: 0 },
  };
  assert.deepEqual(formatEntry(raw), ["stdout                           R hello"]);
  const cut = { ...raw, raw: { data: "hello", originalLength: 2000, timeUs: 0 } };
  assert.deepEqual(formatEntry(cut), ["stdout                           R hello..."]);
});

Deno.test("§5 concise format: shortening, widths 20/16, continuation lines", () => {
  assert.equal(shortenDN("root.enrolment", 20), "root.enrolment");
  assert.equal(shortenDN("root.role.kubernetes.apiserver", 20), "r.k8s.apiserver");
  assert.equal(shortenDN("root.role.controlplane.consensus.etcd", 20), "r.cplane.cons.etcd");
  assert.equal(shortenDN("root.role.controlplane.consensus.etcd", 16), "cplane.cons.etcd");
  assert.deepEqual(formatConcise(entry("root.enrolment", ["done", "more"])), [
    "      root.enrolment I done",
    "                     | more",
  ]);
  assert.deepEqual(formatConcise(entry("root.role.kubernetes.apiserver", ["up"], "WARNING"), 70), [
    " r.k8s.apiserver W up",
  ]);
  const raw: LogEntry = {
    dn: "root.kernel",
    seq: 2,
    raw: { data: "x", originalLength: 0, timeUs: 0 },
  };
  assert.deepEqual(formatConcise(raw), ["         root.kernel R x"]);
});

/** The line of the caller of this function in this file. */
function lineHere(): number {
  return Number(new Error().stack!.split("\n")[2].match(/logtree_test\.ts:(\d+)/)![1]);
}

Deno.test("location: a logger called by node:events is located at our emit, not in the runtime", () => {
  const t = new LogTree();
  const l = t.logger("root.ev");
  const em = new EventEmitter();
  em.on("line", l.info);
  const line = lineHere() + 1;
  em.emit("line", "hi");
  const [e] = t.read("root.ev", { backlog: "all" }).backlog;
  assert.equal(e.leveled!.location, `logtree_test.ts:${line}`);
});

Deno.test("location: none (not a runtime frame, not unknown:0) when only the runtime calls the logger", async () => {
  const t = new LogTree();
  const l = t.logger("root.timer");
  setTimeout(l.info, 0, "from a timer");
  await new Promise((r) => setTimeout(r, 20));
  const [e] = t.read("root.timer", { backlog: "all" }).backlog;
  assert.equal(e.leveled!.location, "");
  assert.match(formatEntry(e)[0], /\d{6}\] from a timer$/);
});

Deno.test("stackLocation: the thrower in our code, skipping runtime and npm frames", () => {
  let stack = "";
  const line = lineHere() + 2;
  try {
    Deno.readTextFileSync("/nonexistent/logtree-test");
  } catch (e) {
    stack = (e as Error).stack ?? "";
  }
  assert.match(stack, /ext:/, "the op error's innermost frame is the runtime's");
  assert.equal(stackLocation(stack), `logtree_test.ts:${line}`);
  assert.equal(
    stackLocation([
      "Error: x",
      "    at f (ext:core/01_core.js:405:3)",
      "    at g (file:///root/.cache/deno/npm/registry.npmjs.org/@grpc/grpc-js/1.14.7/x.js:9:1)",
      "    at node:internal/process:1:1",
      "    at async file:///work/main/node/core/a.ts:12:5",
    ].join("\n")),
    "a.ts:12",
  );
  assert.equal(stackLocation("Error: x\n    at f (ext:core/01_core.js:405:3)"), "");
});
