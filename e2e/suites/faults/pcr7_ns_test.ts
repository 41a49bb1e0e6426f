/**
 * Fault: PCR 7 changed between boots (testing.md §6), namespace variant. A 2-node cluster with
 * swtpm and TPM REQUIRED; node 1 first reboots normally (its TPM-sealed configuration unseals
 * and it rejoins), then is stopped and started again with PCR 7 extended in its fresh swtpm
 * before the agent starts. Expected: its console shows `sealed configuration present but
 * unusable` (naming TPM_RC_POLICY_FAIL), it never rejoins, and its data directory is
 * byte-for-byte unchanged. Then its sealed configuration is removed (what a power cut before it
 * reached the disk did on a VM's ESP): restarted, it registers as a new node, and the launcher's
 * reboot says so at once instead of waiting for a rejoin that cannot come.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { fromBinary } from "@bufbuild/protobuf";
import { consoleSince, launchCluster } from "../../launch/cluster.ts";
import { resolveOptions } from "../../launch/options.ts";
import { stepAllHealthy } from "../steps.ts";
import { testEventual } from "../eventual.ts";
import { Node_Health } from "../../../proto/gen/metropolis/proto/api/management_pb.ts";
import { SealedConfigurationFileSchema } from "../../../proto/gen/metropolis/proto/private/private_pb.ts";
import { connectUnix, Tpm } from "../../../node/base/tpm/mod.ts";

/** SHA-256 over every entry below `dir`: relative path, type, mode, size, content, link target. */
async function treeHash(dir: string): Promise<string> {
  const h = createHash("sha256");
  const walk = async (rel: string) => {
    const entries = [];
    for await (const e of Deno.readDir(`${dir}/${rel}`)) entries.push(e.name);
    for (const name of entries.sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const st = await Deno.lstat(`${dir}/${r}`);
      h.update(`${r}\0${st.mode}\0${st.size}\0`);
      if (st.isSymlink) h.update(await Deno.readLink(`${dir}/${r}`));
      else if (st.isDirectory) await walk(r);
      else if (st.isFile) h.update(await Deno.readFile(`${dir}/${r}`));
      h.update("\0");
    }
  };
  await walk("");
  return h.digest("hex");
}

Deno.test({
  name: "faults: PCR 7 changed between boots → sealed configuration unusable, data untouched",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const c = await launchCluster(resolveOptions({
      storage: "dir", // the test reads and hashes the node's /data from the host
      "num-nodes": 2,
      "tpm-mode": "required",
      tpm: "swtpm",
      subnet: "10.1.47.0/24",
    }));
    let ok = false;
    try {
      const api = c.api!;
      await stepAllHealthy(api, 2, 30);
      const ids = await c.nodeIds();
      const node = c.nodes[1];
      const dir = node.opts.dir;
      const sealedPath = `${node.espDir}/metropolis/sealed_configuration.pb`;
      const sealed = fromBinary(SealedConfigurationFileSchema, await Deno.readFile(sealedPath));
      assert.equal(sealed.kind.case, "tpm", "node 1's configuration is TPM-sealed");

      // A normal reboot: fresh swtpm PCRs equal the sealing ones, so the node unseals and rejoins.
      await testEventual("reboot node 1 and it rejoins", 60, () => c.rebootNode(1));

      await c.shutdownNode(1);
      const dataBefore = await treeHash(`${dir}/data`);
      const sealedBefore = await Deno.readFile(sealedPath);
      const consoleFrom = (await Deno.stat(node.consolePath)).size;
      node.opts.beforeAgentStart = async () => {
        const tpm = new Tpm(await connectUnix(`${dir}/tpm/sock`));
        try {
          // What an extra db certificate does to PCR 7 on a VM.
          await tpm.pcrExtend(7, new Uint8Array(32).fill(0x5a));
        } finally {
          tpm.close();
        }
      };
      const restarted = Date.now();
      await c.startNode(1);
      node.opts.beforeAgentStart = undefined;

      const line = await testEventual(
        "node 1 reports its sealed configuration unusable",
        60,
        async () => {
          const text = await consoleSince(node.consolePath, consoleFrom);
          const l = text.split("\n").find((l) =>
            l.includes("sealed configuration present but unusable")
          );
          if (!l) throw new Error("not yet on the console");
          return l;
        },
      );
      console.log(`  node 1: ${line.trim()}`);
      assert.match(line, /TPM2_Unseal: TPM_RC_POLICY_FAIL/);

      // Give it time to do anything it should not (rejoin, format, write).
      await new Promise((r) => setTimeout(r, 15_000));
      assert.ok(node.running, "the node keeps running (no crash loop)");
      const text = await consoleSince(node.consolePath, consoleFrom);
      assert.ok(!/joined the cluster|Cluster enrolment done/.test(text), "node 1 did not enrol");
      const n1 = (await api.nodes(`node.id == "${ids[1]}"`))[0];
      const since = n1.timeSinceHeartbeat;
      const ageMs = since ? Number(since.seconds) * 1000 + since.nanos / 1e6 : Infinity;
      assert.ok(Date.now() - ageMs < restarted, "no heartbeat from node 1 since the restart");
      assert.notEqual(n1.health, Node_Health.HEALTHY);

      assert.deepEqual(await Deno.readFile(sealedPath), sealedBefore, "sealed file unchanged");
      assert.equal(await treeHash(`${dir}/data`), dataBefore, "data directory unchanged");
      await c.shutdownNode(1);
      assert.equal(await treeHash(`${dir}/data`), dataBefore, "data unchanged after shutdown");

      await Deno.remove(sealedPath);
      const started = Date.now();
      await assert.rejects(
        () => c.rebootNode(1, 60_000),
        /node 1 registered again as a new node after its restart: its sealed configuration did not survive/,
      );
      console.log(
        `  without its sealed configuration: re-registration reported after ` +
          `${((Date.now() - started) / 1000).toFixed(1)} s`,
      );
      ok = true;
    } finally {
      await c.close(ok);
    }
  },
});
