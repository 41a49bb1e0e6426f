/**
 * Tier 2: the launcher's switch and namespace-node processes, with a stand-in for the agent (a
 * small Deno program run under the real `/init` in the real namespaces). Subnet 10.1.7.0/24
 * (bridge metro7) so it never collides with a default launcher on metro0.
 */
import assert from "node:assert/strict";
import net from "node:net";
import { fromBinary } from "@bufbuild/protobuf";
import { resolveOptions } from "../../launch/options.ts";
import { launchCluster } from "../../launch/cluster.ts";
import { pidAlive, run, sleep, tryRun } from "../../launch/exec.ts";
import { NodeParametersSchema } from "../../../proto/gen/metropolis/proto/api/configuration_pb.ts";

const SUBNET = "10.1.7.0/24";

/** The stand-in agent: reports its PID and hostname, echoes on :7835, exits on `exit-on-boot`. */
const STAND_IN = `
const [i, state] = Deno.args;
console.log("stand-in " + i + " up pid=" + Deno.pid);
let boots = 0;
try { boots = Number(Deno.readTextFileSync(state + "/boots")); } catch { /* first */ }
Deno.writeTextFileSync(state + "/boots", String(boots + 1));
try {
  Deno.statSync(state + "/exit-on-boot");
  Deno.removeSync(state + "/exit-on-boot");
  for (let l = 0; l < 25; l++) console.log("line " + l);
  console.error("stand-in exiting");
  Deno.exit(3);
} catch { /* keep running */ }
try {
  Deno.statSync(state + "/poweroff-on-boot");
  Deno.removeSync(state + "/poweroff-on-boot");
  console.log("stand-in powering off");
  // reboot(LINUX_REBOOT_CMD_POWER_OFF): in a PID namespace this ends it, init killed by SIGINT.
  const libc = Deno.dlopen("libc.so.6", { reboot: { parameters: ["i32"], result: "i32" } });
  libc.symbols.reboot(0x4321fedc);
} catch { /* keep running */ }
const l = Deno.listen({ hostname: "0.0.0.0", port: 7835 });
for await (const c of l) {
  (async () => {
    const buf = new Uint8Array(100);
    const n = await c.read(buf);
    if (n) await c.write(new TextEncoder().encode("n" + i + ":" + new TextDecoder().decode(buf.subarray(0, n))));
    c.close();
  })();
}
`;

async function standIn(): Promise<string> {
  const f = await Deno.makeTempFile({ prefix: "metro-launch-standin-", suffix: ".ts" });
  await Deno.writeTextFile(f, STAND_IN);
  return f;
}

async function waitFor(what: string, fn: () => Promise<boolean> | boolean, ms = 30_000) {
  const end = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

async function consoleHas(path: string, text: string): Promise<boolean> {
  return (await Deno.readTextFile(path).catch(() => "")).includes(text);
}

/** Asserts nothing of the metro7 topology is left on the host. */
async function assertNothingLeft(pids: number[], stateDir: string, launcherMadeState = true) {
  const netns = await run("ip", ["netns", "list"]);
  assert.ok(!/metro-metro7-/.test(netns), `namespaces left: ${netns}`);
  assert.equal(await tryRun("ip", ["link", "show", "dev", "metro7"]), false, "bridge left");
  const links = await run("ip", ["-o", "link", "show"]);
  assert.ok(!/metro7v\d/.test(links), "veth left");
  for (const p of pids) {
    assert.ok(Number.isInteger(p) && p > 1, `recorded init PID ${p}`);
    assert.equal(pidAlive(p), false, `process ${p} left`);
  }
  if (launcherMadeState) await assert.rejects(Deno.stat(stateDir), Deno.errors.NotFound);
  // A state directory the launcher did not create is never deleted.
  else await Deno.stat(`${stateDir}/nodes/0/console.log`);
  await assert.rejects(Deno.stat(`${stateDir}/../metropolis-launch-metro7.lock`));
}

function options(stateDir: string, script: string, extra: Record<string, string | boolean> = {}) {
  return {
    ...resolveOptions({
      storage: "dir", // checks the data directories from the host
      "num-nodes": 2,
      subnet: SUBNET,
      tpm: "none",
      "tpm-mode": "disabled",
      "state-dir": stateDir,
      ...extra,
    }),
    agentCommand: [Deno.execPath(), "run", "-A", "--no-prompt", script, "{i}", "{state}"],
    progress: false,
  };
}

Deno.test("2 namespace nodes: bridge, addresses, ping, PID namespace, SOCKS, clean close", async () => {
  const script = await standIn();
  const parent = await Deno.makeTempDir({ prefix: "metro-launch-test-" });
  const stateDir = `${parent}/state`;
  const c = await launchCluster(options(stateDir, script));
  const pids: number[] = [];
  try {
    for (const i of [0, 1]) {
      const n = c.nodes[i];
      await waitFor(`node ${i} console`, () => consoleHas(n.consolePath, `stand-in ${i} up`));
      // The stand-in is PID 2 in its own PID namespace (/init is 1).
      assert.ok(await consoleHas(n.consolePath, "pid=2"), "agent is PID 2 inside");
      pids.push(n.initPid!);
      const params = fromBinary(
        NodeParametersSchema,
        await Deno.readFile(`${stateDir}/nodes/${i}/esp/metropolis/parameters.pb`),
      );
      assert.equal(params.cluster.case, i === 0 ? "clusterBootstrap" : undefined);
      assert.equal(params.networkConfig, undefined, "no static network_config: DHCP");
      await Deno.stat(`${stateDir}/nodes/${i}/data`);
    }
    const link = await run("ip", ["-n", "metro-metro7-0", "-o", "link", "show", "eth0"]);
    assert.match(link, /52:54:00:01:00:02/);
    assert.match(link, /state UP|LOWER_UP/);
    const addr = await run("ip", ["-n", "metro-metro7-1", "-o", "-4", "addr", "show", "eth0"]);
    assert.match(addr, /10\.1\.7\.3\/24/);
    const route = await run("ip", ["-n", "metro-metro7-1", "route", "show", "default"]);
    assert.match(route, /default via 10\.1\.7\.1 dev eth0/);
    // Node ↔ node and node → host over the bridge; host → node directly.
    await run("ip", ["netns", "exec", "metro-metro7-0", "ping", "-c1", "-W2", "10.1.7.3"]);
    await run("ip", ["netns", "exec", "metro-metro7-1", "ping", "-c1", "-W2", "10.1.7.2"]);
    await run("ip", ["netns", "exec", "metro-metro7-1", "ping", "-c1", "-W2", "10.1.7.1"]);
    await run("ping", ["-c1", "-W2", "10.1.7.2"]);
    // The nodes have no route anywhere else (no uplink, no NAT).
    assert.equal(
      await tryRun("ip", ["netns", "exec", "metro-metro7-0", "ping", "-c1", "-W1", "10.1.8.1"]),
      false,
    );
    // The switch's DHCP server hands node 1 its reserved address (udhcpc configures nothing).
    const dhcp = await new Deno.Command("ip", {
      args: "netns exec metro-metro7-1 busybox udhcpc -i eth0 -n -q -f -s /bin/true".split(" "),
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const dhcpLog = new TextDecoder().decode(dhcp.stderr) + new TextDecoder().decode(dhcp.stdout);
    assert.match(dhcpLog, /lease of 10\.1\.7\.3 obtained from 10\.1\.7\.1, lease time 30/);
    // Through the switch's SOCKS5: by address and by a node ID in the table.
    c.socks.table.set("metropolis-test0", "10.1.7.2");
    for (const [target, want] of [["10.1.7.3:7835", "n1:hi"], ["metropolis-test0:7835", "n0:hi"]]) {
      const [h, p] = (await c.dialNode(target)).split(":");
      const got = await waitForEcho(h, Number(p));
      assert.equal(got, want);
    }
  } finally {
    await c.close();
  }
  await assertNothingLeft(pids, stateDir);
  await Deno.remove(parent, { recursive: true });
  await Deno.remove(script);
});

/** Sends "hi" to the relay and returns the answer; retries until the stand-in listens. */
async function waitForEcho(host: string, port: number): Promise<string> {
  let last = "";
  for (let attempt = 0; attempt < 100; attempt++) {
    last = await new Promise<string>((resolve) => {
      const s = net.connect(port, host, () => s.write("hi"));
      let out = "";
      s.on("data", (d) => out += d);
      s.on("close", () => resolve(out));
      s.on("error", () => resolve(""));
    });
    if (last) return last;
    await sleep(100);
  }
  return last;
}

Deno.test("node end: a dead agent restarts its node by default and is counted, else reported with tail", async () => {
  const script = await standIn();
  const parent = await Deno.makeTempDir({ prefix: "metro-launch-test-" });
  const stateDir = `${parent}/state`;
  // Node 0 exits on its first boot (→ /init reboots → SIGHUP); prepare the marker before start.
  await Deno.mkdir(`${stateDir}/nodes/0`, { recursive: true });
  await Deno.writeTextFile(`${stateDir}/nodes/0/exit-on-boot`, "");
  // No --allow-reboot: restarting a node whose agent died is the default.
  const c = await launchCluster(options(stateDir, script));
  const ends: string[] = [];
  const pids: number[] = [];
  try {
    const n = c.nodes[0];
    await waitFor(
      "second boot",
      async () => (await Deno.readTextFile(`${stateDir}/nodes/0/boots`).catch(() => "")) === "2",
    );
    await waitFor("second boot console", () => n.running && n.boots === 2);
    pids.push(n.initPid!, c.nodes[1].initPid!);
    assert.ok(await consoleHas(n.consolePath, "init: agent exited: exit status 3"));
    assert.equal(c.crashes, 1, "the agent's death is counted");
    // Now without a restart: kill the stand-in inside, /init reboots, the end is reported.
    n.opts.allowReboot = false;
    const prev = n.opts.onExit;
    n.opts.onExit = (e) => {
      ends.push(`${e.description}|${e.tail.length}|${e.tail.join("\n")}`);
      prev?.(e);
    };
    await Deno.writeTextFile(`${stateDir}/nodes/0/exit-on-boot`, "");
    await c.killNode(0);
    await c.startNode(0);
    const exit = await n.wait();
    assert.equal(exit?.signal, "SIGHUP");
    assert.equal(exit?.restarting, false);
    assert.equal(n.running, false);
    assert.equal(ends.length, 1);
    assert.match(ends[0], /^killed by SIGHUP \(reboot request\)\|20\|/);
    assert.match(ends[0], /init: agent exited: exit status 3/);
    assert.equal(n.boots, 3);
  } finally {
    await c.close();
  }
  await assertNothingLeft(pids, stateDir, false);
  await Deno.remove(parent, { recursive: true });
  await Deno.remove(script);
});

Deno.test("stale lock of a dead launcher: leftovers are removed; a live lock refuses", async () => {
  const script = await standIn();
  const parent = await Deno.makeTempDir({ prefix: "metro-launch-test-" });
  const lock = `${parent}/metropolis-launch-metro7.lock`;
  // What a SIGKILLed launcher leaves: its lock, the bridge, a namespace with a process in it.
  await Deno.writeTextFile(lock, "999999999\n");
  await run("ip", ["link", "add", "metro7", "type", "bridge"]);
  await run("ip", ["netns", "add", "metro-metro7-0"]);
  const orphan = new Deno.Command("ip", {
    args: ["netns", "exec", "metro-metro7-0", "sleep", "600"],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const c = await launchCluster(options(`${parent}/state`, script));
  try {
    assert.equal((await orphan.status).signal, "SIGKILL", "process in the stale netns killed");
    assert.equal((await Deno.readTextFile(lock)).trim(), String(Deno.pid));
    // A second launcher on the same bridge (same lock) is refused while we live.
    await assert.rejects(
      launchCluster(options(`${parent}/state2`, script)),
      /bridge in use by launcher pid \d+ \(lock .*metropolis-launch-metro7\.lock\)/,
    );
    // …and the refused attempt removed nothing of ours.
    await run("ip", ["link", "show", "dev", "metro7"]);
  } finally {
    await c.close();
  }
  await assertNothingLeft([], `${parent}/state`);
  await Deno.remove(parent, { recursive: true });
  await Deno.remove(script);
});

Deno.test("--tpm swtpm: a fresh swtpm per boot answers TPM2_GetRandom on <state>/tpm/sock", async () => {
  const script = await standIn();
  const parent = await Deno.makeTempDir({ prefix: "metro-launch-test-" });
  const stateDir = `${parent}/state`;
  const c = await launchCluster({
    ...options(stateDir, script, { "tpm-mode": "required", tpm: "swtpm" }),
    numNodes: 1,
  });
  try {
    const sock = `${stateDir}/nodes/0/tpm/sock`;
    const conn = await Deno.connect({ transport: "unix", path: sock });
    // TPM2_GetRandom(8): tag ST_NO_SESSIONS, size 12, command code 0x17B.
    await conn.write(new Uint8Array([0x80, 1, 0, 0, 0, 12, 0, 0, 1, 0x7b, 0, 8]));
    const buf = new Uint8Array(64);
    const n = await conn.read(buf);
    conn.close();
    assert.ok(n !== null && n >= 10, `short TPM answer (${n} bytes)`);
    const rc = new DataView(buf.buffer).getUint32(6);
    assert.equal(rc, 0, `TPM response code 0x${rc.toString(16)}`);
    assert.equal(new DataView(buf.buffer).getUint16(10), 8, "8 random bytes");
  } finally {
    await c.close();
  }
  const ps = await run("ps", ["-eo", "args"]);
  assert.ok(!ps.includes(`${stateDir}/nodes/0/tpm`), "swtpm left running");
  await assertNothingLeft([], stateDir);
  await Deno.remove(parent, { recursive: true });
  await Deno.remove(script);
});

Deno.test("the real agent (node/main.ts) starts as a namespace node under /init", async () => {
  const parent = await Deno.makeTempDir({ prefix: "metro-launch-test-" });
  const stateDir = `${parent}/state`;
  const c = await launchCluster({
    ...options(stateDir, "unused"),
    agentCommand: undefined,
    numNodes: 1,
  });
  try {
    const log = c.nodes[0].consolePath;
    await waitFor("agent banner", () => consoleHas(log, "(platform namespace, pid 2)"), 60_000);
    assert.ok(await consoleHas(log, "init: Metropolis"), "init banner");
    // The agent's network service leases the node's reserved address from the switch.
    await waitFor("DHCP lease", () => consoleHas(log, "eth0: leased 10.1.7.2/24 from 10.1.7.1"));
    const addr = await run("ip", ["-n", "metro-metro7-0", "-o", "-4", "addr", "show", "eth0"]);
    assert.match(addr, /10\.1\.7\.2\/24/);
  } finally {
    await c.close();
  }
  await assertNothingLeft([], stateDir);
  await Deno.remove(parent, { recursive: true });
});

Deno.test("power off ends the node for good (SIGINT); shutdownNode stops it", async () => {
  const script = await standIn();
  const parent = await Deno.makeTempDir({ prefix: "metro-launch-test-" });
  const stateDir = `${parent}/state`;
  await Deno.mkdir(`${stateDir}/nodes/0`, { recursive: true });
  await Deno.writeTextFile(`${stateDir}/nodes/0/poweroff-on-boot`, "");
  const c = await launchCluster(options(stateDir, script, { "allow-reboot": true }));
  const pids: number[] = [];
  try {
    const exit = await c.nodes[0].wait();
    assert.equal(exit?.signal, "SIGINT");
    assert.equal(exit?.description, "killed by SIGINT (power off)");
    assert.equal(exit?.restarting, false, "a power-off is not restarted even with allow-reboot");
    assert.ok(exit?.tail.includes("stand-in powering off"));
    assert.equal(c.nodes[0].running, false);
    const n1 = c.nodes[1];
    await waitFor("node 1 up", () => consoleHas(n1.consolePath, "stand-in 1 up"));
    const init = n1.initPid!;
    pids.push(init);
    await c.shutdownNode(1);
    assert.equal(n1.running, false);
    assert.equal(pidAlive(init), false);
    assert.equal((await run("ip", ["netns", "pids", "metro-metro7-1"])).trim(), "");
  } finally {
    await c.close();
  }
  await assertNothingLeft(pids, stateDir, false);
  await Deno.remove(parent, { recursive: true });
  await Deno.remove(script);
});
