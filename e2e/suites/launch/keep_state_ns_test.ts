/**
 * Namespace tier: a node's private root (node.md §2, testing.md §2.2), `--storage loop` and a
 * restart from kept state (`--keep` then `--keep-state`, issue #4). Two nodes on 10.1.48.0/24
 * (bridge metro48) with the default TPM (swtpm, required): the root is checked from inside each
 * node's mount and PID namespaces with nsenter; a label written before the restart is read back
 * after it, under the same node IDs. Teardown leaves no loop device, namespace or process.
 */
import assert from "node:assert/strict";
import { type Cluster, launchCluster } from "../../launch/cluster.ts";
import { resolveOptions } from "../../launch/options.ts";
import { pidAlive, run, tryRun } from "../../launch/exec.ts";
import { stepAllHealthy } from "../steps.ts";
import { testEventual } from "../eventual.ts";

const SUBNET = "10.1.48.0/24";
const LABEL = { key: "e2e.test/kept-state", value: "written-before-restart" };

/** Top-level entries of a node's root (with a TPM: `/tpm`). */
const ROOT_ENTRIES = [
  "agent",
  "bin",
  // Kubernetes payloads (read-only, from the launcher's payload directory).
  "containerd",
  "data",
  "dev",
  "ephemeral",
  "esp",
  "etc",
  "kubernetes",
  "lib",
  "lib64",
  "proc",
  "run",
  "sbin",
  "sys",
  "tmp",
  "tpm",
  "usr",
  // A symlink into /ephemeral (the kubelet and CNI insist on /var paths), not the host's /var.
  "var",
];

/** Runs `cmd` inside node `i`'s mount and PID namespaces (its own /usr provides the tools). */
function inNode(c: Cluster, i: number, cmd: string[]): Promise<string> {
  const pid = c.nodes[i].initPid;
  if (pid === undefined) throw new Error(`node ${i} is not running`);
  return run("nsenter", ["-t", String(pid), "-m", "-p", "--", ...cmd]);
}

/** Loop devices whose backing file lies in `stateDir`. */
async function loopsOf(stateDir: string): Promise<string[]> {
  const out = await run("losetup", ["-a"]);
  return out.split("\n").filter((l) => l.includes(stateDir));
}

async function checkPrivateRoot(c: Cluster, i: number): Promise<void> {
  const entries = (await inNode(c, i, ["ls", "-A", "/"])).trim().split("\n").sort();
  assert.deepEqual(entries, ROOT_ENTRIES, `node ${i}: top-level entries`);
  for (const hostPath of ["/work", "/root", "/home", "/var/lib/dpkg", c.stateDir]) {
    assert.equal(
      (await inNode(c, i, ["sh", "-c", `test -e '${hostPath}' && echo present || echo absent`]))
        .trim(),
      "absent",
      `node ${i}: ${hostPath} must not be visible`,
    );
  }
  const data = (await inNode(c, i, ["findmnt", "-n", "-o", "FSTYPE,SOURCE", "/data"])).trim();
  assert.match(data, /^xfs +\/dev\/loop\d+$/, `node ${i}: /data`);
  const dev = (await inNode(c, i, ["ls", "-A", "/dev"])).trim().split("\n").sort();
  const loop = data.split(/ +/)[1].slice("/dev/".length);
  assert.deepEqual(
    dev,
    // kmsg: the kubelet's OOM watcher reads it (bound when the host has it).
    ["full", "kmsg", loop, "null", "ptmx", "pts", "random", "shm", "tty", "urandom", "zero"].sort(),
    `node ${i}: /dev`,
  );
  const agent = (await inNode(c, i, ["ls", "-A", "/agent"])).trim().split("\n").sort();
  assert.deepEqual(agent, ["agent.js", "deno", "proto"], `node ${i}: /agent`);
  // The agent runs from the bundle and the node's /usr is read-only.
  const cmdline = await Deno.readTextFile(
    `/proc/${c.nodes[i].initPid}/task/${c.nodes[i].initPid}/children`,
  ).then((t) => Deno.readTextFile(`/proc/${t.trim().split(" ")[0]}/cmdline`));
  assert.match(cmdline.replaceAll("\0", " "), /--cached-only --no-config .*dist\/agent\.js /);
  assert.equal(
    (await inNode(c, i, ["sh", "-c", "touch /usr/x 2>/dev/null && echo rw || echo ro"])).trim(),
    "ro",
  );
}

/** Asserts nothing of metro48 or the nodes' loop devices is left on the host. */
async function assertTornDown(pids: number[], stateDir: string): Promise<void> {
  assert.ok(!/metro-metro48-/.test(await run("ip", ["netns", "list"])), "namespaces left");
  assert.equal(await tryRun("ip", ["link", "show", "dev", "metro48"]), false, "bridge left");
  for (const p of pids) assert.equal(pidAlive(p), false, `process ${p} left`);
  // Autoclear: the XFS mount ended with the node's mount namespace, and the device with it.
  let loops: string[] = [];
  for (let k = 0; k < 50; k++) {
    loops = await loopsOf(stateDir);
    if (loops.length === 0) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.deepEqual(loops, [], "loop devices left");
}

Deno.test({
  name: "launch: private root, --storage loop, --keep then --keep-state restart (namespace)",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const stateDir = await Deno.makeTempDir({ prefix: "metro-keep-state-" });
    let c: Cluster | undefined;
    try {
      c = await launchCluster(resolveOptions({
        "num-nodes": 2,
        storage: "loop",
        subnet: SUBNET,
        "state-dir": stateDir,
        keep: true,
      }));
      const ids = await c.nodeIds();
      assert.equal(ids.length, 2);
      for (const i of [0, 1]) {
        await Deno.stat(`${stateDir}/nodes/${i}/data.img`);
        await checkPrivateRoot(c, i);
      }
      assert.equal((await loopsOf(stateDir)).length, 2, "one loop device per node");
      await c.api!.management((m) =>
        m.updateNodeLabels({ node: { case: "id", value: ids[1] }, upsert: [LABEL] })
      );
      const pids = c.nodes.map((n) => n.initPid!);
      await c.close();
      c = undefined;
      await assertTornDown(pids, stateDir);
      await Deno.stat(`${stateDir}/launch.json`);

      // The same directory again: the nodes rejoin from their sealed configurations.
      const restarted = Date.now();
      c = await launchCluster(resolveOptions({ "keep-state": true, "state-dir": stateDir }));
      assert.deepEqual(await c.nodeIds(), ids, "same node IDs after the restart");
      await stepAllHealthy(c.api!, 2, 60, "both nodes HEALTHY after the restart");
      await testEventual("both nodes sent a heartbeat since the restart", 60, async () => {
        for (const n of await c!.api!.nodes()) {
          const since = n.timeSinceHeartbeat;
          const ageMs = since ? Number(since.seconds) * 1000 + since.nanos / 1e6 : Infinity;
          assert.ok(Date.now() - ageMs > restarted, `${n.id}: heartbeat ${ageMs} ms old`);
        }
      });
      await testEventual("label written before the restart is readable", 30, async () => {
        const n = (await c!.api!.nodes(`node.id == "${ids[1]}"`))[0];
        assert.ok(
          n?.labels?.pairs.some((p) => p.key === LABEL.key && p.value === LABEL.value),
          JSON.stringify(n?.labels?.pairs),
        );
      });
      await checkPrivateRoot(c, 0);
      const again = c.nodes.map((n) => n.initPid!);
      await c.close();
      c = undefined;
      await assertTornDown(again, stateDir);
    } finally {
      await c?.close(false);
      await Deno.remove(stateDir, { recursive: true }).catch(() => {});
    }
  },
});
