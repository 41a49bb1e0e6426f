/**
 * Fault: the agent dies in the middle of bootstrapping a new cluster (namespace tier). A 1-node
 * cluster whose agent is SIGKILLed while bootstrap's first etcd runs — after the node sealed its
 * configuration (without the cluster CA) and before the cluster existed. Expected: `/init`
 * reboots the node (the launcher restarts it), the node sees the broken-off bootstrap, starts it
 * again from the beginning and the cluster comes up HEALTHY (a power cut at that moment must not
 * mean reinstalling the node). Subnet 10.1.45.0/24.
 */
import assert from "node:assert/strict";
import { launchCluster } from "../../launch/cluster.ts";
import { resolveOptions } from "../../launch/options.ts";
import { sleep } from "../../launch/exec.ts";
import { stepAllHealthy } from "../steps.ts";

/** The PID of the agent whose `--state` is `dir` (undefined while none runs). */
async function agentPid(dir: string): Promise<number | undefined> {
  for await (const e of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    const argv = await Deno.readTextFile(`/proc/${e.name}/cmdline`).catch(() => "");
    const args = argv.split("\0");
    // Deno itself (`deno run … agent.js`), not /init or the wrappers whose argv contain it.
    if (args[1] === "run" && args.includes(`--state=${dir}`)) {
      return Number(e.name);
    }
  }
  return undefined;
}

Deno.test({
  name:
    "faults: agent killed during bootstrap → the node bootstraps again and the cluster is HEALTHY",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const parent = await Deno.makeTempDir({ prefix: "metro-bootcrash-" });
    const stateDir = `${parent}/state`;
    const node0 = `${stateDir}/nodes/0`;
    let killed: number | undefined;
    let watching = true;
    // Kills the agent the moment bootstrap's first etcd starts (its line on the console).
    const killer = (async () => {
      while (watching && killed === undefined) {
        const text = await Deno.readTextFile(`${node0}/console.log`).catch(() => "");
        if (text.includes("bootstrapping etcd: first start with peer TLS")) {
          const pid = await agentPid(node0);
          if (pid !== undefined) {
            Deno.kill(pid, "SIGKILL");
            killed = pid;
            return;
          }
        }
        await sleep(20);
      }
    })();
    let ok = false;
    const c = await launchCluster(resolveOptions({
      "num-nodes": 1,
      subnet: "10.1.45.0/24",
      "state-dir": stateDir,
    })).finally(() => watching = false);
    try {
      await killer;
      assert.ok(killed !== undefined, "the agent was killed during bootstrap");
      await stepAllHealthy(c.api!, 1, 60);
      assert.equal(c.crashes, 1, "one agent death, one restart");
      const text = await Deno.readTextFile(`${node0}/console.log`);
      assert.match(text, /a bootstrap of this node did not finish .* starting it again/);
      assert.match(text, /Cluster enrolment done/);
      ok = true;
    } finally {
      await c.close(ok);
      if (ok) await Deno.remove(parent, { recursive: true }).catch(() => {});
    }
  },
});
