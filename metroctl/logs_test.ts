/**
 * Tier 1: node-local commands (`node logs`, `node reboot`, `node poweroff`) of the real metroctl
 * CLI against a real test curator plus the node's real NodeManagement server (TLS, 7839 on a
 * unique loopback address), verifying the node ID on dial.
 */
import assert from "node:assert/strict";
import { Curator } from "../proto/gen/metropolis/node/core/curator/proto/api/api_pb.ts";
import https from "node:https";
import { LogTree } from "../node/base/logtree/logtree.ts";
import { certificatePem } from "../node/base/pki/info.ts";
import { exportPkcs8Pem } from "../node/base/pki/keys.ts";
import { runMetroctl, startTestCurator, writeOwnerKey } from "./testing.ts";

// NodeManagement from node/core is loaded at run time (like the curator fixture in testing.ts):
// shipped metroctl code must not import node/core beyond identity and rpc (architecture.md §6).
const MGMT = new URL("../node/core/mgmt/server.ts", import.meta.url).href;

// NodeManagement is another area's module; without it this test cannot run (say so, don't fail).
const haveMgmt = await Deno.stat(new URL(MGMT)).then(() => true, () => false);
if (!haveMgmt) console.error(`metroctl logs_test: ${MGMT} missing, test ignored`);

Deno.test({
  ignore: !haveMgmt,
  name: "metroctl node logs / reboot / poweroff against a real NodeManagement server",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const cur = await startTestCurator();
    const { NodeManagementServer } = await import(MGMT);
    // A loopback address of our own, so port 7839 does not collide with anything on 127.0.0.1.
    const addr = `127.0.${1 + Math.floor(Math.random() * 250)}.${
      2 + Math.floor(Math.random() * 250)
    }`;
    const tree = new LogTree();
    tree.logger("root.enrolment").info("Cluster enrolment done.");
    tree.logger("root.network").warning("link up\nsecond line");
    const power: string[] = [];
    const mgmt = new NodeManagementServer({
      tree,
      certificate: cur.nodeCertificate,
      privateKey: cur.nodeKeys.privateKey,
      clusterCA: cur.caCertificate,
      host: addr,
      port: 7839,
      capabilities: { kexec: false, efivars: false, reboot: "pid-namespace" },
      power: (kind: string) => void power.push(kind),
      rebootDelayMs: 0,
    });
    await mgmt.listen();
    const tmp = await Deno.makeTempDir({ prefix: "metroctl-logs-test-" });
    const config = `${tmp}/config`;
    const run = (args: string[]) =>
      runMetroctl(["--endpoints", cur.target, "--config", config, ...args], {
        env: { KUBECONFIG: `${tmp}/kubeconfig` },
      });
    try {
      await writeOwnerKey(config, cur.ownerKeys);
      const own = await run([
        "cluster",
        "takeownership",
        "--insecure-accept-and-persist-first-encountered-ca",
      ]);
      assert.equal(own.code, 0, own.stderr);
      const c = await cur.client(Curator, {
        certificate: cur.nodeCertificate,
        privateKey: cur.nodeKeys.privateKey,
      });
      await c.updateNodeStatus({ nodeId: cur.nodeId, status: { externalAddress: addr } });

      await t.step("node logs: header, entries in text format, done line", async () => {
        const r = await run(["node", "logs", cur.nodeId]);
        assert.equal(r.code, 0, r.stderr);
        const lines = r.stdout.trimEnd().split("\n");
        assert.equal(lines[0], `=== Logs from ${cur.nodeId} (${addr}):`);
        assert.equal(lines[lines.length - 1], "=== Done.");
        assert.match(
          r.stdout,
          /root\.enrolment {19}I\d{4} \d\d:\d\d:\d\d\.\d{6} [^\]]+\] Cluster enrolment done\./,
        );
        assert.match(r.stdout, /root\.network .* link up\n.* second line\n/);
      });

      await t.step("node logs --dn --exact, --backlog, -o json", async () => {
        const r = await run(["node", "logs", cur.nodeId, "--dn", "root.enrolment", "--exact"]);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, /Cluster enrolment done\./);
        assert.doesNotMatch(r.stdout, /link up/);
        const b = await run(["node", "logs", cur.nodeId, "--backlog", "1"]);
        assert.equal(b.stdout.split("\n").filter((l) => l.includes("root.")).length, 2);
        assert.doesNotMatch(b.stdout, /enrolment/);
        const j = await run(["node", "logs", cur.nodeId, "-o", "json"]);
        assert.equal(j.code, 0, j.stderr);
        const entries = j.stdout.trim().split("\n").map((l) => JSON.parse(l));
        assert.equal(entries.length, 2);
        assert.equal(entries[0].dn, "root.enrolment");
        assert.deepEqual(entries[0].leveled.lines, ["Cluster enrolment done."]);
      });

      await t.step("node reboot and poweroff", async () => {
        const r = await run(["node", "reboot", cur.nodeId]);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stderr, new RegExp(`Node ${cur.nodeId} is being rebooted`));
        const p = await run(["node", "poweroff", cur.nodeId]);
        assert.equal(p.code, 0, p.stderr);
        assert.match(p.stderr, new RegExp(`Node ${cur.nodeId} is being powered off`));
        const bad = await run(["node", "reboot", cur.nodeId, "--kexec", "--firmware"]);
        assert.equal(bad.code, 2);
        assert.match(bad.stderr, /--kexec cannot be used with --firmware/);
        const deadline = Date.now() + 5_000;
        while (power.length < 2 && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 50));
        }
        assert.deepEqual(power, ["reboot", "poweroff"]);
      });

      await t.step("node metrics over HTTPS with the owner certificate", async () => {
        const seen: string[] = [];
        const server = https.createServer({
          cert: certificatePem(cur.nodeCertificate),
          key: await exportPkcs8Pem(cur.nodeKeys.privateKey),
          ca: certificatePem(cur.caCertificate),
          requestCert: true,
          rejectUnauthorized: true,
        }, (req, res) => {
          seen.push(req.url ?? "");
          if (req.url === "/metrics/core") res.end("# metrics\nup 1\n");
          else {
            res.statusCode = 404;
            res.end();
          }
        });
        await new Promise<void>((r) => server.listen(7840, addr, () => r()));
        try {
          const r = await run(["node", "metrics", cur.nodeId, "core"]);
          assert.equal(r.code, 0, r.stderr);
          assert.equal(r.stdout, "# metrics\nup 1\n");
          const e = await run(["node", "metrics", cur.nodeId, "etcd"]);
          assert.equal(e.code, 1);
          assert.match(e.stderr.trim(), /^metroctl: metrics request failed: HTTP 404$/);
          const u = await run(["node", "metrics", cur.nodeId, "bogus"]);
          assert.equal(u.code, 2);
          assert.deepEqual(seen, ["/metrics/core", "/metrics/etcd"]);
        } finally {
          await new Promise((r) => server.close(r));
        }
      });

      await t.step("node update: a node without A/B slots refuses", async () => {
        const ref = `registry.test:5000/metropolis/os:v1@sha256:${"ab".repeat(32)}`;
        const r = await run(["node", "update", cur.nodeId, "--image-ref", ref]);
        assert.equal(r.code, 1);
        assert.match(
          r.stderr,
          new RegExp(`sending update request to: ${cur.nodeId} \\(${addr}\\)`),
        );
        assert.match(
          r.stderr,
          /UNIMPLEMENTED: OS updates are not available on this node: it has no A\/B slots/,
        );
        const bad = await run(["node", "update", cur.nodeId, "--image-ref", "registry.test/os:v1"]);
        assert.equal(bad.code, 2);
        assert.match(bad.stderr, /invalid --image-ref: missing digest/);
      });

      await t.step("node logs of an unknown node", async () => {
        const r = await run(["node", "logs", "metropolis-00000000000000000000000000000000"]);
        assert.equal(r.code, 1);
        assert.match(r.stderr.trim(), /^metroctl: no such node: metropolis-0+$/);
      });
    } finally {
      await mgmt.shutdown();
      await cur.stop();
      await Deno.remove(tmp, { recursive: true });
    }
  },
});
