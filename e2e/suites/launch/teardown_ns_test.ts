/**
 * Tier 2: the launcher CLI tears everything down on SIGINT, SIGTERM and SIGHUP even when its
 * stdout and stderr are gone (`deno task launch | tee log` whose tee died first, a closed
 * terminal): no bridge, namespace, lock file or state directory may remain. One node, subnet
 * 10.1.64.0/24 (bridge metro64).
 */
import assert from "node:assert/strict";
import { bridgeName } from "../../launch/net.ts";
import { parseSubnet } from "../../launch/options.ts";

const SUBNET = "10.1.64.0/24";
const ROOT = new URL("../../..", import.meta.url).pathname;
const dec = new TextDecoder();

async function sh(cmd: string, args: string[]): Promise<string> {
  const o = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "null" }).output();
  return dec.decode(o.stdout);
}

async function bridgeExists(name: string): Promise<boolean> {
  return (await sh("ip", ["-o", "link", "show"])).split("\n").some((l) =>
    l.includes(` ${name}:`) || l.includes(` ${name}@`)
  );
}

for (const sig of ["SIGHUP", "SIGTERM"] as const) {
  Deno.test({
    name: `launch CLI: ${sig} with stdout and stderr closed still tears everything down`,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      const state = await Deno.makeTempDir({ prefix: "metropolis-teardown-" });
      await Deno.remove(state); // the launcher creates (and therefore removes) it
      const bridge = bridgeName(parseSubnet(SUBNET));
      const child = new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          `${ROOT}e2e/launch/main.ts`,
          "--num-nodes=1",
          "--tpm=none",
          "--tpm-mode=disabled",
          `--subnet=${SUBNET}`,
          `--state-dir=${state}`,
        ],
        cwd: ROOT,
        // The CLI merges its kubectl context into $KUBECONFIG: keep the user's file out of tests.
        env: { KUBECONFIG: `${state}.kubeconfig` },
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      // The reader goes away at once: every write of the launcher fails from here on.
      await child.stdout.cancel();
      await child.stderr.cancel();
      try {
        const end = Date.now() + 120_000;
        while (!(await bridgeExists(bridge))) {
          assert.ok(Date.now() < end, "launcher never created its bridge");
          await new Promise((r) => setTimeout(r, 500));
        }
        // Let it get into the running cluster (node started), then signal.
        await new Promise((r) => setTimeout(r, 15_000));
        child.kill(sig);
        const status = await child.status;
        assert.ok(!status.success, `launcher exit: ${JSON.stringify(status)}`);
      } finally {
        try {
          child.kill("SIGKILL");
        } catch { /* already gone */ }
      }
      assert.equal(await bridgeExists(bridge), false, `bridge ${bridge} left behind`);
      const ns = await sh("ip", ["netns", "list"]);
      assert.ok(!ns.includes(`metro-${bridge}-`), `namespaces left behind: ${ns}`);
      await assert.rejects(Deno.stat(state), Deno.errors.NotFound, "state directory left behind");
      await Deno.remove(`${state}.kubeconfig`).catch(() => {});
      const parent = state.replace(/\/[^/]+$/, "");
      await assert.rejects(
        Deno.stat(`${parent}/metropolis-launch-${bridge}.lock`),
        Deno.errors.NotFound,
        "lock file left behind",
      );
    },
  });
}
