/**
 * Tier 1: `metroctl node update` end to end against a real test curator, the node's real
 * NodeManagement with a real update service (slots and efivars in temp files) and the local
 * OCI registry: the image is checked in the registry before any node is touched (wrong digest,
 * missing payload), then installed into the inactive slot. Waiting for HEALTHY on the new
 * version is core/rollout_test.ts (a reboot cannot happen here).
 */
import assert from "node:assert/strict";
import { Curator } from "../proto/gen/metropolis/node/core/curator/proto/api/api_pb.ts";
import { LogTree } from "../node/base/logtree/logtree.ts";
import { nodeCmdline } from "../node/base/osimage/cmdline.ts";
import { runMetroctl, startTestCurator, writeOciLayout, writeOwnerKey } from "./testing.ts";

// Node and test code is loaded at run time (shipped metroctl code must not import it).
const MGMT = new URL("../node/core/mgmt/server.ts", import.meta.url).href;
const UPDATE = new URL("../node/core/update/node.ts", import.meta.url).href;
const REGISTRY = new URL("../e2e/registry/server.ts", import.meta.url).href;
const MiB = 1024 * 1024;

Deno.test({
  name: "metroctl node update: registry preflight, then UpdateNode installs into the inactive slot",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const { NodeManagementServer } = await import(MGMT);
    const { nodeUpdate } = await import(UPDATE);
    const { serveRegistry } = await import(REGISTRY);
    const tmp = await Deno.makeTempDir({ prefix: "metroctl-update-test-", dir: "/var/tmp" });
    const cur = await startTestCurator();
    const addr = `127.0.${1 + Math.floor(Math.random() * 250)}.${
      2 + Math.floor(Math.random() * 250)
    }`;
    const system = new Uint8Array(2 * MiB + 1).fill(5);
    const enc = (s: string) => new TextEncoder().encode(s);
    const digest = await writeOciLayout(`${tmp}/oci`, {
      system,
      "boot-a.efi": enc("A"),
      "boot-b.efi": enc("B"),
      "installer.efi": enc("I"),
    }, "0.2.0");
    const partial = await writeOciLayout(`${tmp}/partial`, { system, "boot-a.efi": enc("A") });
    const reg = await serveRegistry({
      repos: { "metropolis/node": `${tmp}/oci`, "metropolis/partial": `${tmp}/partial` },
      hostname: "127.0.0.1",
    });
    for (const s of ["a", "b"]) {
      using f = await Deno.open(`${tmp}/slot-${s}`, { write: true, create: true });
      await f.truncate(4 * MiB);
    }
    await Deno.mkdir(`${tmp}/efivars`);
    const tree = new LogTree();
    const verity = { rootHash: "aa".repeat(32), salt: "bb".repeat(32), dataBlocks: 1, size: 4096 };
    const update = nodeUpdate(
      {
        capabilities: {
          encryption: false,
          wireguard: false,
          kexec: false,
          efivars: true,
          reboot: "machine",
        },
        esp: { path: `${tmp}/esp`, mount: () => Promise.resolve() },
        slots: {
          systemDevice: (s: string) => Promise.resolve(`${tmp}/slot-${s}`),
          espPartition: () =>
            Promise.resolve({
              number: 1,
              startLba: 2048n,
              sizeLba: 1024n,
              guid: crypto.randomUUID(),
            }),
        },
      },
      tree.logger("root.update"),
      { cmdline: () => nodeCmdline("a", verity), efivars: `${tmp}/efivars` },
    );
    const power: string[] = [];
    const mgmt = new NodeManagementServer({
      tree,
      certificate: cur.nodeCertificate,
      privateKey: cur.nodeKeys.privateKey,
      clusterCA: cur.caCertificate,
      host: addr,
      port: 7839,
      capabilities: { kexec: false, efivars: true, reboot: "machine" },
      power: (kind: string) => void power.push(kind),
      update: update.service,
      rebootDelayMs: 0,
    });
    await mgmt.listen();
    const config = `${tmp}/config`;
    const run = (args: string[]) =>
      runMetroctl(["--endpoints", cur.target, "--config", config, ...args], {
        env: { KUBECONFIG: `${tmp}/kubeconfig` },
      });
    const ref = (repo: string, d: string) => `http://127.0.0.1:${reg.port}/metropolis/${repo}@${d}`;
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

      await t.step("a digest the registry lacks fails before any node is touched", async () => {
        const r = await run([
          "node",
          "update",
          "all",
          "--image-ref",
          ref("node", "sha256:" + "7".repeat(64)),
        ]);
        assert.equal(r.code, 1);
        assert.match(
          r.stderr,
          /OS image 127\.0\.0\.1:\d+\/metropolis\/node@sha256:7{64}: .*not found \(HTTP 404\)/,
        );
        assert.doesNotMatch(r.stderr, /sending update request/);
      });

      await t.step(
        "an image without the node payloads: OS image lacks payload boot-b.efi",
        async () => {
          const r = await run(["node", "update", "all", "--image-ref", ref("partial", partial)]);
          assert.equal(r.code, 1);
          assert.match(r.stderr, /OS image lacks payload boot-b\.efi/);
        },
      );

      await t.step("nothing selected: excluded or filtered out", async () => {
        const r = await run([
          "node",
          "update",
          "all",
          "--exclude",
          cur.nodeId,
          "--image-ref",
          ref("node", digest),
        ]);
        assert.equal(r.code, 1);
        assert.match(r.stderr, /no nodes to update/);
        const f = await run([
          "node",
          "update",
          "all",
          "--filter",
          'node.id == "nope"',
          "--image-ref",
          ref("node", digest),
        ]);
        assert.match(f.stderr, /no nodes to update/);
      });

      await t.step("activation none: installed into slot B, BootNext set, no reboot", async () => {
        const r = await run([
          "node",
          "update",
          cur.nodeId,
          "--activation-mode",
          "none",
          "--image-ref",
          ref("node", digest),
        ]);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stderr, /holds version 0\.2\.0/);
        assert.match(
          r.stderr,
          new RegExp(
            `sending update request to: ${cur.nodeId} \\(${addr.replaceAll(".", "\\.")}\\)`,
          ),
        );
        assert.match(r.stderr, /activates on the node's next reboot/);
        assert.deepEqual((await Deno.readFile(`${tmp}/slot-b`)).subarray(0, system.length), system);
        assert.equal(await Deno.readTextFile(`${tmp}/esp/EFI/metropolis/boot-b.efi`), "B");
        assert.ok(
          (await Deno.readDir(`${tmp}/efivars`)[Symbol.asyncIterator]().next()).value,
          "BootNext written",
        );
        assert.deepEqual(power, []);
      });
    } finally {
      await mgmt.shutdown();
      await reg.close();
      await cur.stop();
      const { setImmutable } = await import("../node/base/efi/immutable.ts");
      for (const e of Deno.readDirSync(`${tmp}/efivars`)) {
        try {
          setImmutable(`${tmp}/efivars/${e.name}`, false);
        } catch { /* ignore */ }
      }
      await Deno.remove(tmp, { recursive: true });
    }
  },
});
