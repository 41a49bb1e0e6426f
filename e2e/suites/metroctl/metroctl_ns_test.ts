/**
 * metroctl suite (testing.md §4.6) against a launched 2-node namespace cluster, through the
 * launcher's SOCKS5 proxy, with the real CLI as a subprocess. TPM via swtpm (testing.md §3, the
 * launcher's defaults: TPM REQUIRED, one swtpm per node), so the describe row shows `yes` in the
 * TPM column as upstream does.
 */
import assert from "node:assert/strict";
import yaml from "js-yaml";
import { launchCluster } from "../../launch/cluster.ts";
import { resolveOptions } from "../../launch/options.ts";
import { insecureOwnerKey } from "../../launch/insecure_key.ts";
import { runMetroctl, writeOwnerKey } from "../../../metroctl/testing.ts";
import { testEventual } from "../eventual.ts";

Deno.test({
  name: "metroctl: the operator flows against a namespace cluster",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const c = await launchCluster(resolveOptions({
      "num-nodes": 2,
      "tpm-mode": "required",
      subnet: "10.1.46.0/24",
      tpm: "swtpm",
      // A node whose agent dies reboots and rejoins, as a real node would (Deno's HTTP/2 can abort
      // on GOAWAY races; the cluster must ride through such restarts).
      "allow-reboot": true,
    }));
    const cfg = await Deno.makeTempDir({ prefix: "metroctl-e2e-" });
    let ok = false;
    try {
      await writeOwnerKey(cfg, await insecureOwnerKey());
      const [addr0, addr1] = [c.nodeAddress(0), c.nodeAddress(1)];
      const base = [`--proxy=${c.socks.address}`, `--config=${cfg}`];
      const all = [...base, `--endpoints=${addr0}`, `--endpoints=${addr1}`];
      const mc = async (args: string[], want = 0) => {
        const r = await runMetroctl(args, { cwd: cfg, timeoutMs: 60_000 });
        if (r.code !== want) {
          throw new Error(`metroctl ${args.join(" ")}: exit ${r.code}: ${r.stderr.trim()}`);
        }
        return r;
      };
      await testEventual("the launcher's wrapper lists both nodes UP and HEALTHY", 20, async () => {
        const w = await new Deno.Command(`${c.stateDir}/metroctl/metroctl.sh`, {
          args: ["node", "describe"],
          stdout: "piped",
          stderr: "piped",
        }).output();
        const out = new TextDecoder().decode(w.stdout);
        assert.ok(w.success, new TextDecoder().decode(w.stderr));
        const rows = out.split("\n").filter((l) =>
          /^metropolis-\S+\s+UP\s+\S+\s+HEALTHY\s/.test(l)
        );
        assert.equal(rows.length, 2, out);
      });
      await testEventual("cluster takeownership", 30, async () => {
        const r = await mc([
          ...base,
          `--endpoints=${addr0}`,
          "--insecure-accept-and-persist-first-encountered-ca",
          "cluster",
          "takeownership",
        ]);
        assert.match(r.stdout + r.stderr, /Successfully retrieved owner credentials/);
      });
      const ids = await c.nodeIds();
      await testEventual("node list", 10, async () => {
        const r = await mc([...all, "node", "list"]);
        assert.ok(r.stdout.includes(ids[0]) && r.stdout.includes(ids[1]), r.stdout);
      });
      await testEventual("node list <id1>", 10, async () => {
        const r = await mc([...all, "node", "list", ids[1]]);
        assert.ok(r.stdout.includes(ids[1]) && !r.stdout.includes(ids[0]), r.stdout);
      });
      await testEventual("node list --output list.txt", 10, async () => {
        const r = await mc([...all, "node", "list", "--output", "list.txt"]);
        assert.equal(r.stdout, "");
        assert.ok((await Deno.readTextFile(`${cfg}/list.txt`)).includes(ids[0]));
      });
      await testEventual("node list --filter by address", 10, async () => {
        const r = await mc([
          ...all,
          "node",
          "list",
          "--filter",
          `node.status.external_address=="${addr1}"`,
        ]);
        assert.ok(r.stdout.includes(ids[1]) && !r.stdout.includes(ids[0]), r.stdout);
      });
      await testEventual("node describe --output describe.txt --filter", 10, async () => {
        await mc([
          ...all,
          "node",
          "describe",
          "--output",
          "describe.txt",
          "--filter",
          `node.status.external_address=="${addr0}"`,
        ]);
        const line = (await Deno.readTextFile(`${cfg}/describe.txt`)).split("\n")[1] ?? "";
        const m = new RegExp(
          `^${ids[0]}\\s+UP\\s+${addr0.replaceAll(".", "\\.")}\\s+HEALTHY\\s+` +
            `ConsensusMember,KubernetesController\\s+(yes)\\s+\\S+\\s+(\\d+)s`,
        ).exec(line);
        assert.ok(m, `describe row: ${line}`);
        assert.ok(Number(m[2]) >= 0 && Number(m[2]) <= 30);
      });
      await testEventual("node logs <id1> shows the enrolment", 10, async () => {
        const r = await mc([...all, "node", "logs", ids[1]]);
        assert.match(r.stdout, /Cluster enrolment done\./);
      });
      await testEventual("add and remove role KubernetesWorker", 10, async () => {
        await mc([...all, "node", "add", "role", "KubernetesWorker", ids[1]]);
        let r = await mc([...all, "node", "describe", ids[1]]);
        assert.match(r.stdout, /KubernetesWorker/);
        await mc([...all, "node", "remove", "role", "KubernetesWorker", ids[1]]);
        r = await mc([...all, "node", "describe", ids[1]]);
        assert.doesNotMatch(r.stdout, /KubernetesWorker/);
      });
      await testEventual("cluster configure set/get", 10, async () => {
        const key = "kubernetes.node_labels_to_synchronize";
        const s = await mc([...all, "cluster", "configure", "set", key, "foo", "bar"]);
        assert.match(s.stdout + s.stderr, /New value: "foo", "bar"/);
        const g = await mc([...all, "cluster", "configure", "get", key]);
        assert.match(g.stdout + g.stderr, /Value: "foo", "bar"/);
      });
      await testEventual("-o json and -o yaml of list and describe", 10, async () => {
        for (const cmd of ["list", "describe"]) {
          const j = await mc([...all, "node", cmd, "--format", "json"]);
          const js = JSON.stringify(JSON.parse(j.stdout));
          const y = await mc([...all, "node", cmd, "--format", "yaml"]);
          const ys = JSON.stringify(yaml.load(y.stdout));
          for (const id of ids) assert.ok(js.includes(id) && ys.includes(id), `${cmd}: ${id}`);
        }
      });
      await testEventual("bad inputs: unknown flag, unknown node, malformed CEL", 10, async () => {
        const f = await mc([...all, "node", "list", "--no-such-flag"], 2);
        assert.equal(f.stderr.trim().split("\n").length, 1);
        const n = await runMetroctl([
          ...all,
          "node",
          "describe",
          "metropolis-00000000000000000000000000000000",
        ]);
        assert.ok(n.code !== 0 || n.stdout.trim().split("\n").length <= 1);
        const cel = await mc([...all, "node", "list", "--filter", "node.state =="], 1);
        assert.equal(cel.stderr.trim().split("\n").length, 1, cel.stderr);
      });
      await testEventual("unreachable endpoint: exit 1 within 25 s", 30, async () => {
        const t0 = Date.now();
        const r = await runMetroctl([...base, "--endpoints=10.1.46.200", "node", "list"], {
          cwd: cfg,
          timeoutMs: 40_000,
        });
        assert.equal(r.code, 1, r.stderr);
        assert.ok(Date.now() - t0 < 25_000, `took ${Date.now() - t0} ms`);
      });
      ok = true;
    } finally {
      if (!ok) console.log(`metroctl: keeping state in ${c.stateDir}`);
      await c.close(ok);
      await Deno.remove(cfg, { recursive: true }).catch(() => {});
    }
  },
});
