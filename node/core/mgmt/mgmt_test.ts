/**
 * NodeManagement (node.md §14) over real TLS and real grpc-js clients, run as a supervised
 * runnable: Logs request validation, backlog modes and chunking, live streaming, filters, entry
 * conversion, invalid UTF-8, reader overflow, Reboot timing and errors, and authorization.
 */
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { makeClient, type ServiceClient } from "../../../proto/grpc.ts";
import {
  type LogsRequest,
  LogsRequest_BacklogMode as BacklogMode,
  LogsRequest_StreamMode as StreamMode,
  LogsRequestSchema,
  type LogsResponse,
  NodeManagement,
  RebootRequest_NextBoot as NextBoot,
  RebootRequest_Type as RebootType,
} from "../../../proto/gen/metropolis/proto/api/management_pb.ts";
import type { LogFilter } from "../../../proto/gen/metropolis/proto/common/common_pb.ts";
import {
  LeveledLogSeverity,
  type LogEntry,
} from "../../../proto/gen/osbase/logtree/proto/logtree_pb.ts";
import { LogTree } from "../../base/logtree/logtree.ts";
import { READER_BUFFER } from "../../base/logtree/reader.ts";
import { run, signal, Supervisor, untilAborted } from "../../base/supervisor/supervisor.ts";
import { waitUntil } from "../../base/supervisor/testing.ts";
import { testCA, testNodeCert, testUserCert } from "../identity/testing.ts";
import { type ClientCertificate, connectionParams } from "../rpc/client.ts";
import { RpcError } from "../rpc/auth.ts";
import { NAMESPACE_CAPABILITIES } from "../platform/namespace.ts";
import { VM_CAPABILITIES } from "../platform/vm.ts";
import {
  BACKLOG_CHUNK,
  type BootControl,
  MAX_FILTERS,
  type NodeManagementOptions,
  type PowerAction,
  runNodeManagement,
  UPDATE_UNAVAILABLE,
  validUtf8,
} from "./mod.ts";

// deno-lint-ignore no-explicit-any
type Any = any;
type Client = ServiceClient<typeof NodeManagement.method>;
type ReqInit = Omit<MessageInitShape<typeof LogsRequestSchema>, "$typeName">;

// ---- Certificates: a throwaway cluster CA, the serving node, another node, the owner ----

interface Certs {
  caDer: Uint8Array;
  server: ClientCertificate & { id: string };
  node: ClientCertificate & { id: string };
  owner: ClientCertificate;
}

let certsP: Promise<Certs> | undefined;
function certs(): Promise<Certs> {
  return certsP ??= (async () => {
    const ca = testCA();
    return {
      caDer: await ca.certificate(),
      server: await testNodeCert(ca),
      node: await testNodeCert(ca),
      owner: await testUserCert(ca, "owner"),
    };
  })();
}

// ---- Fixture: a supervisor running runNodeManagement as root.mgmt ----

interface PowerCall {
  kind: PowerAction;
  at: number;
}

interface Fixture {
  tree: LogTree;
  sup: Supervisor;
  port: number;
  power: PowerCall[];
  /** A client as `who` (owner, node, or nobody). */
  client(who?: "owner" | "node" | "none"): Promise<Client>;
}

async function withNode(
  opts: Partial<NodeManagementOptions>,
  fn: (f: Fixture) => Promise<void>,
): Promise<void> {
  const c = await certs();
  const tree = new LogTree();
  const power: PowerCall[] = [];
  const listening = Promise.withResolvers<number>();
  const sup = new Supervisor(tree, async (ctx) => {
    run(ctx, "mgmt", (m) =>
      runNodeManagement(m, {
        tree,
        certificate: c.server.certificate,
        privateKey: c.server.privateKey,
        clusterCA: c.caDer,
        port: 0,
        host: "127.0.0.1",
        capabilities: NAMESPACE_CAPABILITIES,
        power: (kind) => void power.push({ kind, at: performance.now() }),
        onListening: (p) => listening.resolve(p),
        ...opts,
      }));
    signal(ctx, "healthy");
    await untilAborted(ctx);
  }, { onRootExit: () => {} });
  const clients: Client[] = [];
  try {
    const port = await listening.promise;
    await waitUntil(() => sup.state("root.mgmt") === "HEALTHY", "root.mgmt healthy");
    await fn({
      tree,
      sup,
      port,
      power,
      async client(who = "owner") {
        const p = await connectionParams(`127.0.0.1:${port}`, {
          ca: c.caDer,
          nodeId: c.server.id,
          identity: who === "owner" ? c.owner : who === "node" ? c.node : undefined,
        });
        const cl = makeClient(NodeManagement, p.address, p.credentials, p.options);
        clients.push(cl);
        return cl;
      },
    });
  } finally {
    for (const cl of clients) cl.close();
    await sup.stop();
  }
}

// ---- Helpers ----

function req(init: ReqInit = {}): LogsRequest {
  return create(LogsRequestSchema, {
    backlogMode: BacklogMode.ALL,
    streamMode: StreamMode.DISABLE,
    ...init,
  });
}

const withChildren = { filter: { case: "withChildren", value: {} } } as LogFilter;
const onlyRaw = { filter: { case: "onlyRaw", value: {} } } as LogFilter;
const onlyLeveled = { filter: { case: "onlyLeveled", value: {} } } as LogFilter;
const minSeverity = (minimum: number) =>
  ({ filter: { case: "leveledWithMinimumSeverity", value: { minimum } } }) as LogFilter;

interface StreamResult {
  msgs: LogsResponse[];
  code: grpc.status;
  details: string;
}

/** Reads a Logs stream to its end; resolves with the messages and the final status. */
async function readAll(stream: grpc.ClientReadableStream<LogsResponse>): Promise<StreamResult> {
  const msgs: LogsResponse[] = [];
  try {
    for await (const m of stream) msgs.push(m);
    return { msgs, code: grpc.status.OK, details: "" };
  } catch (e) {
    return { msgs, code: (e as Any).code, details: (e as Any).details };
  }
}

function backlogOf(r: StreamResult): LogEntry[] {
  return r.msgs.flatMap((m) => m.backlogEntries);
}

function text(e: LogEntry): string {
  return e.kind.case === "leveled" ? e.kind.value.lines.join("\n") : e.kind.value!.data;
}

async function logs(c: Client, init: ReqInit = {}): Promise<StreamResult> {
  return await readAll(c.logs(req(init), { deadline: Date.now() + 20_000 }));
}

async function rejectsCode(p: Promise<unknown>, code: grpc.status, details?: RegExp) {
  await assert.rejects(p, (e: Any) => {
    assert.equal(e.code, code, `got ${grpc.status[e.code]}: ${e.details}`);
    if (details) assert.match(e.details, details);
    return true;
  });
}

function assertStatus(r: StreamResult, code: grpc.status, details?: RegExp) {
  assert.equal(r.code, code, `got ${grpc.status[r.code]}: ${r.details}`);
  if (details) assert.match(r.details, details);
}

// ---- Logs: request validation ----

Deno.test("Logs: every invalid request is INVALID_ARGUMENT naming the problem", async () => {
  await withNode({}, async (f) => {
    f.tree.logger("root.a").info("x");
    const c = await f.client();
    const bad: [ReqInit, RegExp][] = [
      [{ filters: Array(MAX_FILTERS + 1).fill(withChildren) }, /11 filters, at most 10/],
      [{ dn: "root..a" }, /invalid DN "root\.\.a": empty part/],
      [{ dn: "root.a b" }, /whitespace/],
      [{ backlogMode: BacklogMode.COUNT, backlogCount: 0n }, /backlog_count must be > 0/],
      [{ backlogMode: BacklogMode.COUNT, backlogCount: -5n }, /backlog_count must be > 0/],
      [{ backlogMode: BacklogMode.INVALID }, /backlog_mode .* got 0/],
      [{ backlogMode: 7 as BacklogMode }, /backlog_mode .* got 7/],
      [{ streamMode: 9 as StreamMode }, /stream_mode .* got 9/],
      [{ filters: [onlyRaw, onlyLeveled] }, /only_raw and only_leveled/],
      [{ filters: [minSeverity(0)] }, /filter 0: invalid minimum severity 0/],
      [{ filters: [withChildren, minSeverity(9)] }, /filter 1: invalid minimum severity 9/],
    ];
    for (const [init, details] of bad) {
      const r = await logs(c, { dn: "root.a", ...init });
      assertStatus(r, grpc.status.INVALID_ARGUMENT, details);
      assert.equal(r.msgs.length, 0);
    }
    // Exactly the maximum of filters is fine.
    const ok = await logs(c, { dn: "root.a", filters: Array(MAX_FILTERS).fill(withChildren) });
    assertStatus(ok, grpc.status.OK);
    assert.deepEqual(backlogOf(ok).map(text), ["x"]);
    assert.equal(f.tree.readerCount, 0);
  });
});

Deno.test("Logs: stream_mode unset means no streaming (upstream parity)", async () => {
  await withNode({}, async (f) => {
    f.tree.logger("root.a").info("x");
    const c = await f.client();
    const r = await logs(c, { dn: "root.a", streamMode: StreamMode.INVALID });
    assertStatus(r, grpc.status.OK);
    assert.deepEqual(backlogOf(r).map(text), ["x"]);
    assert.equal(f.tree.readerCount, 0, "no live reader left behind");
  });
});

// ---- Logs: backlog ----

Deno.test("Logs: backlog ALL / COUNT (last N across the selection in time order) / DISABLE", async () => {
  await withNode({}, async (f) => {
    for (let i = 0; i < 5; i++) {
      f.tree.logger("root.x").info(`x${i}`);
      f.tree.logger("root.x.y").info(`y${i}`);
    }
    const c = await f.client();
    const all = await logs(c, { dn: "root.x", filters: [withChildren] });
    assertStatus(all, grpc.status.OK);
    assert.equal(all.msgs.length, 1);
    assert.deepEqual(
      backlogOf(all).map(text),
      ["x0", "y0", "x1", "y1", "x2", "y2", "x3", "y3", "x4", "y4"],
    );
    assert.ok(all.msgs.every((m) => m.streamEntries.length === 0));
    const last3 = await logs(c, {
      dn: "root.x",
      filters: [withChildren],
      backlogMode: BacklogMode.COUNT,
      backlogCount: 3n,
    });
    assert.deepEqual(backlogOf(last3).map(text), ["y3", "x4", "y4"]);
    const huge = await logs(c, {
      dn: "root.x",
      backlogMode: BacklogMode.COUNT,
      backlogCount: 1n << 62n,
    });
    assert.deepEqual(backlogOf(huge).map(text), ["x0", "x1", "x2", "x3", "x4"]);
    const none = await logs(c, { dn: "root.x", backlogMode: BacklogMode.DISABLE });
    assertStatus(none, grpc.status.OK);
    assert.equal(none.msgs.length, 0);
    // A DN without entries is not an error, just empty.
    const empty = await logs(c, { dn: "root.nothing" });
    assertStatus(empty, grpc.status.OK);
    assert.equal(empty.msgs.length, 0);
  });
});

Deno.test("Logs: a backlog above 2000 entries arrives in messages of at most 2000, in order", async () => {
  await withNode({}, async (f) => {
    const n = 2 * BACKLOG_CHUNK + 500;
    const l = f.tree.logger("root.big");
    for (let i = 0; i < n; i++) l.info(`line ${i}`);
    const c = await f.client();
    const r = await logs(c, { dn: "root.big" });
    assertStatus(r, grpc.status.OK);
    assert.deepEqual(r.msgs.map((m) => m.backlogEntries.length), [2000, 2000, 500]);
    const got = backlogOf(r).map(text);
    assert.equal(got.length, n);
    assert.ok(got.every((t, i) => t === `line ${i}`));
  });
});

// ---- Logs: filters and conversion ----

Deno.test("Logs: DN vs with_children, only_raw, only_leveled, minimum severity", async () => {
  await withNode({}, async (f) => {
    const t = f.tree;
    t.logLeveled("root.svc", "INFO", "svc info");
    t.logLeveled("root.svc", "WARNING", "svc warning");
    t.logRaw("root.svc", "svc raw");
    t.logLeveled("root.svc.child", "ERROR", "child error");
    t.logLeveled("root.svc.child", "INFO", "child info");
    t.logLeveled("root.svcx", "FATAL", "sibling with shared prefix");
    const c = await f.client();
    const get = async (dn: string, filters: LogFilter[]) =>
      backlogOf(await logs(c, { dn, filters })).map(text);
    assert.deepEqual(await get("root.svc", []), ["svc info", "svc warning", "svc raw"]);
    assert.deepEqual(await get("root.svc", [withChildren]), [
      "svc info",
      "svc warning",
      "svc raw",
      "child error",
      "child info",
    ]);
    assert.deepEqual(await get("root.svc.child", []), ["child error", "child info"]);
    assert.deepEqual(await get("root.svc", [withChildren, onlyRaw]), ["svc raw"]);
    assert.deepEqual(await get("root.svc", [withChildren, onlyLeveled]), [
      "svc info",
      "svc warning",
      "child error",
      "child info",
    ]);
    assert.deepEqual(
      await get("root.svc", [withChildren, minSeverity(LeveledLogSeverity.WARNING)]),
      ["svc warning", "child error"],
    );
    assert.deepEqual(
      await get("", [withChildren, minSeverity(LeveledLogSeverity.FATAL)]),
      ["sibling with shared prefix"],
    );
  });
});

Deno.test("Logs: entries convert to osbase.logtree.proto.LogEntry (leveled and raw)", async () => {
  await withNode({}, async (f) => {
    const timeUs = 1_763_748_245_123_456; // 2025-11-21T18:04:05.123456Z
    f.tree.logLeveled("root.conv", "ERROR", "first\nsecond", { location: "cluster.ts:88", timeUs });
    f.tree.logRaw("root.conv", "short raw");
    f.tree.logRaw("root.conv", "z".repeat(1500));
    const c = await f.client();
    const [lev, raw, cut] = backlogOf(await logs(c, { dn: "root.conv" }));
    assert.equal(lev.dn, "root.conv");
    assert.equal(lev.kind.case, "leveled");
    const l = lev.kind.value as Any;
    assert.deepEqual(l.lines, ["first", "second"]);
    assert.equal(l.severity, LeveledLogSeverity.ERROR);
    assert.equal(l.location, "cluster.ts:88");
    assert.equal(l.timestamp.seconds, 1_763_748_245n);
    assert.equal(l.timestamp.nanos, 123_456_000);
    assert.equal(raw.kind.case, "raw");
    assert.deepEqual(
      { data: (raw.kind.value as Any).data, len: (raw.kind.value as Any).originalLength },
      { data: "short raw", len: 0n },
    );
    assert.equal((cut.kind.value as Any).data, "z".repeat(1024));
    assert.equal((cut.kind.value as Any).originalLength, 1500n);
  });
});

Deno.test("Logs: invalid UTF-8 becomes <INVALID> (raw bytes, lone surrogates)", async () => {
  assert.equal(validUtf8("ok é ✓ 😀"), "ok é ✓ 😀");
  assert.equal(validUtf8("a\uD800b\uDC00c\uD83D"), "a<INVALID>b<INVALID>c<INVALID>");
  await withNode({}, async (f) => {
    f.tree.logRaw("root.utf", new Uint8Array([0x61, 0xff, 0xfe, 0x62, 0xc3]));
    f.tree.logRaw("root.utf", new Uint8Array([0x68, 0xc3, 0xa9, 0x21])); // "hé!"
    f.tree.logLeveled("root.utf", "INFO", "lone \uDC00 surrogate\nfine", { location: "x\uD800:1" });
    const c = await f.client();
    const [a, b, l] = backlogOf(await logs(c, { dn: "root.utf" }));
    assert.equal(text(a), "a<INVALID>b<INVALID>");
    assert.equal(text(b), "hé!");
    assert.deepEqual((l.kind.value as Any).lines, ["lone <INVALID> surrogate", "fine"]);
    assert.equal((l.kind.value as Any).location, "x<INVALID>:1");
  });
});

// ---- Logs: streaming ----

Deno.test("Logs: backlog first, then live stream_entries until the client cancels", async () => {
  await withNode({}, async (f) => {
    const l = f.tree.logger("root.live");
    l.info("old 1");
    l.info("old 2");
    const c = await f.client();
    const stream = c.logs(req({ dn: "root.live", streamMode: StreamMode.UNBUFFERED }));
    const got: LogsResponse[] = [];
    const ended = new Promise<Any>((resolve) => {
      stream.on("data", (m: LogsResponse) => got.push(m));
      stream.on("error", resolve);
      stream.on("end", () => resolve(undefined));
    });
    await waitUntil(() => got.length === 1, "backlog message");
    assert.deepEqual(got[0].backlogEntries.map(text), ["old 1", "old 2"]);
    assert.equal(f.tree.readerCount, 1);
    l.info("live 1");
    f.tree.logger("root.other").info("not selected");
    f.tree.logRaw("root.live", "live raw");
    const stream1 = () => got.slice(1).flatMap((m) => m.streamEntries.map(text));
    await waitUntil(() => stream1().length === 2, "two live entries");
    l.warning("live 2");
    await waitUntil(() => stream1().length === 3, "third live entry");
    assert.deepEqual(stream1(), ["live 1", "live raw", "live 2"]);
    assert.ok(got.slice(1).every((m) => m.backlogEntries.length === 0));
    stream.cancel();
    const e = await ended;
    assert.equal(e?.code, grpc.status.CANCELLED);
    // The server notices the cancellation and closes its reader.
    await waitUntil(() => f.tree.readerCount === 0, "reader closed after cancel");
  });
});

Deno.test("Logs: a live reader that overflows ends the call with UNAVAILABLE", async () => {
  await withNode({}, async (f) => {
    const c = await f.client();
    const stream = c.logs(
      req({
        dn: "root.flood",
        backlogMode: BacklogMode.DISABLE,
        streamMode: StreamMode.UNBUFFERED,
      }),
      { deadline: Date.now() + 10_000 },
    );
    const done = readAll(stream);
    await waitUntil(() => f.tree.readerCount === 1, "live reader registered");
    // Written in one go, faster than any client can read: the reader's buffer overflows.
    const l = f.tree.logger("root.flood");
    for (let i = 0; i < READER_BUFFER + 72; i++) l.info(`flood ${i}`);
    const r = await done;
    assertStatus(r, grpc.status.UNAVAILABLE, /overflowed: 72 entries dropped/);
    // Entries before the gap were still delivered.
    const live = r.msgs.flatMap((m) => m.streamEntries.map(text));
    assert.equal(live.length, READER_BUFFER);
    assert.deepEqual(live.slice(0, 2), ["flood 0", "flood 1"]);
    await waitUntil(() => f.tree.readerCount === 0, "reader closed");
  });
});

// ---- Reboot ----

Deno.test("Reboot TYPE_FIRMWARE: response first, power('reboot') ≈ 2 s later, logged in root.mgmt", async () => {
  await withNode({}, async (f) => {
    const c = await f.client();
    const t0 = performance.now();
    await c.reboot({ type: RebootType.FIRMWARE });
    const answered = performance.now() - t0;
    assert.ok(answered < 1000, `answered after ${answered} ms`);
    assert.equal(f.power.length, 0, "power action must wait for the delay");
    const lines = f.tree.read("root.mgmt", { backlog: "all" }).backlog.map((e) =>
      e.leveled?.lines.join("\n")
    );
    assert.ok(lines.includes("Reboot requested, rebooting in 2s"), JSON.stringify(lines));
    await waitUntil(() => f.power.length === 1, "power action", 5000);
    const after = f.power[0].at - t0;
    assert.equal(f.power[0].kind, "reboot");
    assert.ok(after >= 1950 && after < 3000, `power action after ${after} ms`);
  });
});

Deno.test("Reboot TYPE_POWER_OFF: power('poweroff') ≈ 2 s later", async () => {
  await withNode({}, async (f) => {
    const c = await f.client();
    const t0 = performance.now();
    await c.reboot({ type: RebootType.POWER_OFF });
    const lines = f.tree.read("root.mgmt", { backlog: "all" }).backlog.map((e) =>
      e.leveled?.lines.join("\n")
    );
    assert.ok(lines.includes("Reboot requested (power off), powering off in 2s"));
    await waitUntil(() => f.power.length === 1, "power action", 5000);
    assert.equal(f.power[0].kind, "poweroff");
    assert.ok(f.power[0].at - t0 >= 1950, `power action after ${f.power[0].at - t0} ms`);
  });
});

Deno.test("Reboot on a namespace node: kexec/firmware UI UNIMPLEMENTED, rollback UNAVAILABLE", async () => {
  await withNode({ rebootDelayMs: 50 }, async (f) => {
    const c = await f.client();
    await rejectsCode(
      c.reboot({ type: RebootType.KEXEC }),
      grpc.status.UNIMPLEMENTED,
      /kexec is not available on this platform/,
    );
    await rejectsCode(
      c.reboot({ type: RebootType.INVALID }),
      grpc.status.UNIMPLEMENTED,
      /reboot type 0 is not implemented/,
    );
    await rejectsCode(c.reboot({ type: 7 as RebootType }), grpc.status.UNIMPLEMENTED);
    await rejectsCode(
      c.reboot({ type: RebootType.KEXEC, nextBoot: NextBoot.START_FIRMWARE_UI }),
      grpc.status.INVALID_ARGUMENT,
      /cannot be combined with TYPE_KEXEC/,
    );
    // Upstream parity: a next_boot the node does not know is UNIMPLEMENTED, not a bad request.
    await rejectsCode(
      c.reboot({ type: RebootType.FIRMWARE, nextBoot: 5 as NextBoot }),
      grpc.status.UNIMPLEMENTED,
      /^unknown next_boot 5$/,
    );
    await rejectsCode(
      c.reboot({ type: RebootType.FIRMWARE, nextBoot: NextBoot.START_ROLLBACK }),
      grpc.status.UNAVAILABLE,
      /no A\/B slots/,
    );
    await rejectsCode(
      c.reboot({ type: RebootType.FIRMWARE, nextBoot: NextBoot.START_FIRMWARE_UI }),
      grpc.status.UNIMPLEMENTED,
      /no efivars/,
    );
    // None of the refused requests scheduled anything.
    await new Promise((r) => setTimeout(r, 150));
    assert.deepEqual(f.power, []);
  });
});

/** Boot control of a VM node for tests: records what Reboot asked of the firmware. */
class RecordingBootControl implements BootControl {
  calls: string[] = [];
  constructor(public uiSupported: boolean, public failRollback = false) {}
  rollback(): Promise<void> {
    this.calls.push("rollback");
    return this.failRollback
      ? Promise.reject(new Error("BootNext: no boot entry for slot B"))
      : Promise.resolve();
  }
  firmwareUiSupported(): Promise<boolean> {
    this.calls.push("uiSupported?");
    return Promise.resolve(this.uiSupported);
  }
  requestFirmwareUi(): Promise<void> {
    this.calls.push("requestUi");
    return Promise.resolve();
  }
}

Deno.test("Reboot on a VM node: kexec staging, rollback and firmware UI per §14", async () => {
  const efi = new RecordingBootControl(false);
  let kexecFails = true;
  const kexecLoad = () =>
    kexecFails
      ? Promise.reject(new Error("kexec_file_load: EPERM"))
      : Promise.resolve(void efi.calls.push("kexecLoad"));
  await withNode(
    { capabilities: VM_CAPABILITIES, efi, kexecLoad, rebootDelayMs: 50 },
    async (f) => {
      const c = await f.client();
      await rejectsCode(
        c.reboot({ type: RebootType.KEXEC }),
        grpc.status.UNAVAILABLE,
        /failed to stage kexec kernel: kexec_file_load: EPERM/,
      );
      kexecFails = false;
      await c.reboot({ type: RebootType.KEXEC });
      await waitUntil(() => f.power.length === 1, "kexec");
      assert.equal(f.power[0].kind, "kexec");
      await rejectsCode(
        c.reboot({ type: RebootType.FIRMWARE, nextBoot: NextBoot.START_FIRMWARE_UI }),
        grpc.status.UNIMPLEMENTED,
        /firmware does not support/,
      );
      efi.uiSupported = true;
      await c.reboot({ type: RebootType.FIRMWARE, nextBoot: NextBoot.START_FIRMWARE_UI });
      await c.reboot({ type: RebootType.FIRMWARE, nextBoot: NextBoot.START_ROLLBACK });
      efi.failRollback = true;
      await rejectsCode(
        c.reboot({ type: RebootType.POWER_OFF, nextBoot: NextBoot.START_ROLLBACK }),
        grpc.status.UNAVAILABLE,
        /rollback failed: BootNext: no boot entry/,
      );
      await waitUntil(() => f.power.length === 3, "two reboots");
      assert.deepEqual(f.power.map((p) => p.kind), ["kexec", "reboot", "reboot"]);
      assert.deepEqual(efi.calls, [
        "kexecLoad",
        "uiSupported?",
        "uiSupported?",
        "requestUi",
        "rollback",
        "rollback",
      ]);
    },
  );
  // A VM node without a kexec loader or efivars says so instead of pretending.
  await withNode({ capabilities: VM_CAPABILITIES, rebootDelayMs: 50 }, async (f) => {
    const c = await f.client();
    await rejectsCode(c.reboot({ type: RebootType.KEXEC }), grpc.status.UNAVAILABLE, /kexec/);
    await rejectsCode(
      c.reboot({ type: RebootType.FIRMWARE, nextBoot: NextBoot.START_ROLLBACK }),
      grpc.status.UNAVAILABLE,
      /efivars are unavailable/,
    );
    await new Promise((r) => setTimeout(r, 150));
    assert.deepEqual(f.power, []);
  });
});

// ---- UpdateNode, authorization, supervision ----

Deno.test("authz: owner allowed; node PERMISSION_DENIED; no certificate UNAUTHENTICATED", async () => {
  await withNode({ rebootDelayMs: 50 }, async (f) => {
    f.tree.logger("root.a").info("secret");
    const owner = await f.client("owner");
    const node = await f.client("node");
    const anon = await f.client("none");
    assert.deepEqual(backlogOf(await logs(owner, { dn: "root.a" })).map(text), ["secret"]);
    await rejectsCode(
      owner.updateNode({}),
      grpc.status.UNIMPLEMENTED,
      new RegExp(UPDATE_UNAVAILABLE),
    );
    assertStatus(
      await logs(node, { dn: "root.a" }),
      grpc.status.PERMISSION_DENIED,
      /lacks PERMISSION_READ_NODE_LOGS/,
    );
    await rejectsCode(
      node.reboot({ type: RebootType.FIRMWARE }),
      grpc.status.PERMISSION_DENIED,
      /lacks PERMISSION_NODE_POWER_MANAGEMENT/,
    );
    await rejectsCode(
      node.updateNode({}),
      grpc.status.PERMISSION_DENIED,
      /lacks PERMISSION_UPDATE_NODE/,
    );
    assertStatus(await logs(anon, { dn: "root.a" }), grpc.status.UNAUTHENTICATED, /no client/);
    await rejectsCode(anon.reboot({ type: RebootType.FIRMWARE }), grpc.status.UNAUTHENTICATED);
    await rejectsCode(anon.updateNode({}), grpc.status.UNAUTHENTICATED);
    await new Promise((r) => setTimeout(r, 150));
    assert.deepEqual(f.power, [], "no refused caller may reboot the node");
    await owner.reboot({ type: RebootType.FIRMWARE });
    await waitUntil(() => f.power.length === 1, "owner's reboot");
  });
});

Deno.test("UpdateNode: the update handler's power action follows the response; its status is the call's", async () => {
  const seen: number[] = [];
  let answer: "reboot" | "kexec" | "none" | Error = "reboot";
  const update = {
    update(req: { activationMode: number }) {
      seen.push(req.activationMode);
      return answer instanceof Error ? Promise.reject(answer) : Promise.resolve(answer);
    },
  };
  await withNode({ update, rebootDelayMs: 50 }, async (f) => {
    const c = await f.client();
    await c.updateNode({ activationMode: 2 });
    await waitUntil(() => f.power.length === 1, "reboot after the update");
    answer = "kexec";
    await c.updateNode({ activationMode: 3 });
    await waitUntil(() => f.power.length === 2, "kexec after the update");
    answer = "none";
    await c.updateNode({ activationMode: 1 });
    answer = new RpcError(grpc.status.ABORTED, "another UpdateNode is already running");
    await rejectsCode(c.updateNode({ activationMode: 2 }), grpc.status.ABORTED, /already running/);
    await new Promise((r) => setTimeout(r, 150));
    assert.deepEqual(f.power.map((p) => p.kind), ["reboot", "kexec"]);
    assert.deepEqual(seen, [2, 3, 1, 2]);
  });
});

Deno.test("supervision: Healthy once listening; on abort stops listening, live streams end", async () => {
  let port = 0;
  let tree!: LogTree;
  let streamEnd!: Promise<StreamResult>;
  await withNode({}, async (f) => {
    port = f.port;
    tree = f.tree;
    const c = await f.client();
    const lines = f.tree.read("root.mgmt", { backlog: "all" }).backlog.map((e) =>
      e.leveled?.lines[0]
    );
    assert.ok(lines.includes(`NodeManagement listening on port ${port}`));
    streamEnd = readAll(c.logs(req({ dn: "root", streamMode: StreamMode.UNBUFFERED })));
    await waitUntil(() => f.tree.readerCount === 1, "live reader");
  });
  // withNode stopped the supervisor: the stream was cancelled and the port is closed.
  const r = await streamEnd;
  assert.notEqual(r.code, grpc.status.OK);
  assert.equal(tree.readerCount, 0);
  await assert.rejects(Deno.connect({ hostname: "127.0.0.1", port }));
});
