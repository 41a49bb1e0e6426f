/**
 * Tier 1: the real metroctl CLI (subprocesses) against a real test curator (etcd + TLS gRPC):
 * takeownership with TOFU, node listing and describing in every format, cluster configuration,
 * role changes, and the error paths (unknown node, bad CEL, unreachable endpoint, bad role,
 * unknown flag, CA mismatch).
 */
import assert from "node:assert/strict";
import { loadYaml as parseYaml } from "@kubernetes/client-node";
import { issueCertificate } from "../node/base/pki/cert.ts";
import { exportPkcs8Pem, generateEd25519 } from "../node/base/pki/keys.ts";
import { pemEncode } from "../node/base/pki/pem.ts";
import { Socks5Server, tcpConnect } from "../node/base/socks/server.ts";
import tls from "node:tls";
import { certificatePem } from "../node/base/pki/info.ts";
import { CLUSTER_CA_TEMPLATE } from "../node/core/identity/profiles.ts";
import { Curator } from "../proto/gen/metropolis/node/core/curator/proto/api/api_pb.ts";
import {
  type MetroctlResult,
  runMetroctl,
  type RunOptions,
  startTestCurator,
  writeOciLayout,
  writeOwnerKey,
} from "./testing.ts";
import { fromBinary } from "@bufbuild/protobuf";
import {
  type NodeParameters_ClusterRegister,
  NodeParametersSchema,
} from "../proto/gen/metropolis/proto/api/configuration_pb.ts";

function ok(r: MetroctlResult, what: string) {
  assert.equal(r.code, 0, `${what}: exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
}

/** Exactly one non-empty stderr line starting with `metroctl: `. */
function oneErrorLine(r: MetroctlResult): string {
  const lines = r.stderr.split("\n").filter((l) => l.trim() !== "");
  assert.equal(lines.length, 1, `want one stderr line, got:\n${r.stderr}`);
  assert.match(lines[0], /^metroctl: /);
  return lines[0];
}

Deno.test({
  name: "metroctl against a real curator",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const cur = await startTestCurator();
    const tmp = await Deno.makeTempDir({ prefix: "metroctl-test-" });
    const config = `${tmp}/config`;
    const g = ["--endpoints", cur.target, "--config", config];
    // Never touch the real ~/.kube/config.
    const kubeconfig = `${tmp}/kube/config`;
    const run = (args: string[], o: RunOptions = {}) =>
      runMetroctl([...g, ...args], { ...o, env: { KUBECONFIG: kubeconfig, ...o.env } });
    try {
      await writeOwnerKey(config, cur.ownerKeys);

      await t.step("takeownership without the insecure flag refuses (not a terminal)", async () => {
        const r = await run(["cluster", "takeownership"]);
        assert.equal(r.code, 1);
        assert.match(
          oneErrorLine(r),
          /cluster CA not trusted yet \(SHA256:[0-9a-f]{64}\); run interactively or pass --insecure-accept-and-persist-first-encountered-ca/,
        );
        await assert.rejects(Deno.stat(`${config}/ca.pem`));
      });

      await t.step("TOFU prompt on a terminal: no rejects, yes pins", async () => {
        // `script` gives metroctl a pseudo-terminal as stdin; our answer is typed into it.
        const dir = `${tmp}/interactive`;
        await writeOwnerKey(dir, cur.ownerKeys);
        const main = new URL("./main.ts", import.meta.url).pathname;
        const cmd = [Deno.execPath(), "run", "-A", main, "--endpoints", cur.target, "--config", dir]
          .concat(["cluster", "takeownership"]).map((a) => `'${a}'`).join(" ");
        const viaPty = async (answer: string) => {
          const p = new Deno.Command("script", {
            args: ["-qec", cmd, "/dev/null"],
            stdin: "piped",
            stdout: "piped",
            stderr: "piped",
            env: { NO_COLOR: "1", KUBECONFIG: kubeconfig },
          }).spawn();
          const w = p.stdin.getWriter();
          await w.write(new TextEncoder().encode(answer + "\n"));
          await w.close();
          const o = await p.output();
          return { code: o.code, out: new TextDecoder().decode(o.stdout) };
        };
        const no = await viaPty("no");
        assert.equal(no.code, 1, no.out);
        assert.match(
          no.out,
          /The cluster at endpoints 127\.0\.0\.1:\d+ presented a CA certificate/,
        );
        assert.match(no.out, /CA fingerprint: SHA256:[0-9a-f]{64}/);
        assert.match(no.out, /Trust this CA and continue \(yes\/no\)\?/);
        assert.match(no.out, /metroctl: cluster CA rejected by user/);
        await assert.rejects(Deno.stat(`${dir}/ca.pem`));
        const yes = await viaPty("YES");
        assert.equal(yes.code, 0, yes.out);
        assert.match(yes.out, /Successfully retrieved owner credentials/);
        assert.equal(
          await Deno.readTextFile(`${dir}/ca.pem`),
          pemEncode("CERTIFICATE", cur.caCertificate),
        );
      });

      await t.step("takeownership with the insecure flag", async () => {
        const r = await run([
          "cluster",
          "takeownership",
          "--insecure-accept-and-persist-first-encountered-ca",
        ]);
        ok(r, "takeownership");
        assert.match(r.stderr, /Successfully retrieved owner credentials/);
        // No Kubernetes API server here: ownership still counts.
        assert.match(r.stderr, /kubeconfig not written: .*; run 'metroctl k8s configure' later/);
        const ca = await Deno.readTextFile(`${config}/ca.pem`);
        assert.equal(ca, pemEncode("CERTIFICATE", cur.caCertificate));
        assert.equal((await Deno.stat(`${config}/ca.pem`)).mode! & 0o777, 0o600);
        assert.equal((await Deno.stat(`${config}/owner.pem`)).mode! & 0o777, 0o644);
        assert.match(await Deno.readTextFile(`${config}/owner.pem`), /BEGIN CERTIFICATE/);
        // Again: harmless.
        ok(await run(["cluster", "takeownership"]), "second takeownership");
      });

      await t.step("node list, list <id>, --output file, --filter", async () => {
        const r = await run(["node", "list"]);
        ok(r, "node list");
        assert.equal(r.stdout.split("\n")[0].trim(), "NODE ID");
        assert.ok(r.stdout.includes(cur.nodeId));
        const one = await run(["node", "list", cur.nodeId]);
        ok(one, "node list <id>");
        assert.ok(one.stdout.includes(cur.nodeId));
        const none = await run(["node", "list", "metropolis-00000000000000000000000000000000"]);
        ok(none, "node list <other id>");
        assert.ok(!none.stdout.includes(cur.nodeId));
        const file = `${tmp}/nodes.txt`;
        const f = await run(["node", "list", "-o", file]);
        ok(f, "node list -o file");
        assert.equal(f.stdout, "");
        assert.ok((await Deno.readTextFile(file)).includes(cur.nodeId));
        const up = await run(["node", "list", "--filter", "node.state == NODE_STATE_UP"]);
        ok(up, "filter up");
        assert.ok(up.stdout.includes(cur.nodeId));
        const nw = await run(["node", "list", "--filter", "node.state == NODE_STATE_NEW"]);
        ok(nw, "filter new");
        assert.ok(!nw.stdout.includes(cur.nodeId));
      });

      await t.step("node describe parses like upstream's test", async () => {
        // Report a status as the node does, so address and version columns are filled.
        const c = await cur.client(Curator, {
          certificate: cur.nodeCertificate,
          privateKey: cur.nodeKeys.privateKey,
        });
        await c.updateNodeStatus({
          nodeId: cur.nodeId,
          status: {
            externalAddress: "127.0.0.1",
            version: {
              release: { major: 0n, minor: 1n, patch: 2n },
              gitInformation: {
                commitHash: "1a2b3c4d5e6f",
                commitsSinceRelease: 3n,
                buildTreeState: 2,
              },
            },
          },
        });
        const r = await run(["node", "describe"]);
        ok(r, "node describe");
        const [header, row] = r.stdout.split("\n");
        assert.match(
          header,
          /^NODE ID\s+STATE\s+ADDRESS\s+HEALTH\s+ROLES\s+TPM\s+VERSION\s+HEARTBEAT/,
        );
        const f = row.trim().split(/\s+/);
        assert.equal(f[0], cur.nodeId);
        assert.equal(f[1], "UP");
        assert.equal(f[2], "127.0.0.1");
        assert.match(f[3], /^(HEALTHY|UNKNOWN|HEARTBEAT_TIMEOUT)$/);
        assert.equal(f[4], "ConsensusMember,KubernetesController");
        assert.equal(f[5], "no");
        assert.equal(f[6], "0.1.2-dev3.g1a2b3c4d.dirty");
        assert.match(f[f.length - 1], /^\d+s$/);
        const cols = await run(["node", "describe", "--columns", "Node ID, roles"]);
        ok(cols, "describe --columns");
        assert.match(cols.stdout.split("\n")[0], /^NODE ID\s+ROLES\s+$/);
        const bad = await run(["node", "describe", "--columns", "nope"]);
        assert.equal(bad.code, 2);
        assert.match(oneErrorLine(bad), /unknown column "nope": known columns are node id, state/);
      });

      await t.step("json and yaml output parse", async () => {
        const j = await run(["node", "describe", "-o", "json"]);
        ok(j, "describe json");
        const nodes = JSON.parse(j.stdout);
        assert.equal(nodes.length, 1);
        assert.equal(nodes[0].id, cur.nodeId);
        assert.equal(nodes[0].state, "NODE_STATE_UP");
        const l = await run(["node", "list", "--format", "json"]);
        assert.deepEqual(JSON.parse(l.stdout), [cur.nodeId]);
        const y = await run(["node", "describe", "--format", "yaml"]);
        ok(y, "describe yaml");
        const yn = parseYaml(y.stdout) as { id: string; state: string }[];
        assert.equal(yn[0].id, cur.nodeId);
        assert.equal(yn[0].state, "NODE_STATE_UP");
        const ly = await run(["node", "list", "-o", "yaml"]);
        assert.deepEqual(parseYaml(ly.stdout), [cur.nodeId]);
      });

      await t.step("cluster configure set/get", async () => {
        const field = "kubernetes.node_labels_to_synchronize";
        const s = await run(["cluster", "configure", "set", field, "foo", "bar"]);
        ok(s, "configure set");
        assert.match(s.stderr, /New value: "foo", "bar"/);
        const gt = await run(["cluster", "configure", "get", field]);
        ok(gt, "configure get");
        assert.match(gt.stderr, /Value: "foo", "bar"/);
        const gj = await run(["cluster", "configure", "get", field, "-o", "json"]);
        assert.deepEqual(JSON.parse(gj.stdout), { [field]: ["foo", "bar"] });
        const bad = await run(["cluster", "configure", "set", field, "(unclosed"]);
        assert.equal(bad.code, 2);
        assert.match(oneErrorLine(bad), /"\(unclosed" is not a valid regexp/);
        const mode = await run(["cluster", "configure", "put", field]);
        assert.equal(mode.code, 2);
        assert.match(oneErrorLine(mode), /invalid mode "put": must be set or get/);
      });

      await t.step("add and remove role KubernetesWorker", async () => {
        const a = await run(["node", "add", "role", "KubernetesWorker", cur.nodeId]);
        ok(a, "add role");
        assert.match(a.stderr, new RegExp(`Updated node ${cur.nodeId}\\.`));
        const d = await run(["node", "describe", cur.nodeId]);
        assert.match(d.stdout, /ConsensusMember,KubernetesController,KubernetesWorker/);
        const rm = await run(["node", "remove", "role", "kw", cur.nodeId]);
        ok(rm, "remove role");
        const d2 = await run(["node", "describe"]);
        assert.doesNotMatch(d2.stdout, /KubernetesWorker/);
      });

      await t.step("bad inputs: one line, right exit code", async () => {
        const unknownNode = await run([
          "node",
          "add",
          "role",
          "kw",
          "metropolis-00000000000000000000000000000000",
        ]);
        assert.equal(unknownNode.code, 1);
        assert.match(unknownNode.stderr, /Couldn't update node "metropolis-0+": NOT_FOUND: /);
        const del = await run(["node", "delete", "metropolis-00000000000000000000000000000000"]);
        assert.equal(del.code, 1);
        assert.match(oneErrorLine(del), /could not find node with id: metropolis-0+$/);
        const cel = await run(["node", "list", "--filter", "node.state ==="]);
        assert.equal(cel.code, 1);
        assert.match(oneErrorLine(cel), /^metroctl: GetNodes: INVALID_ARGUMENT: /);
        const role = await run(["node", "add", "role", "Gardener", cur.nodeId]);
        assert.equal(role.code, 2);
        assert.match(oneErrorLine(role), /unknown role: Gardener/);
        const flag = await run(["node", "describe", "--colums", "x"]);
        assert.equal(flag.code, 2);
        assert.equal(
          oneErrorLine(flag),
          "metroctl: unknown flag --colums (see 'metroctl node describe --help')",
        );
        const fmt = await run(["node", "list", "--format", "xml"]);
        assert.equal(fmt.code, 2);
        oneErrorLine(fmt);
      });

      await t.step("refused endpoint: exit 1 at once, naming it", async () => {
        // A port nobody listens on: bind, note, close.
        const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
        const port = (l.addr as Deno.NetAddr).port;
        l.close();
        const start = Date.now();
        const r = await runMetroctl([
          "--endpoints",
          `127.0.0.1:${port}`,
          "--config",
          config,
          "node",
          "list",
        ]);
        const took = Date.now() - start;
        assert.equal(r.code, 1);
        assert.equal(
          oneErrorLine(r),
          `metroctl: could not reach any cluster endpoint: 127.0.0.1:${port}: connection refused`,
        );
        // Mostly the start of a Deno process; the dial itself gives up in milliseconds.
        assert.ok(took < 10_000, `took ${took} ms`);
      });

      await t.step("pinned ca.pem of another cluster: exit 1 naming ca.pem", async () => {
        const other = `${tmp}/other`;
        await writeOwnerKey(other, cur.ownerKeys);
        await Deno.copyFile(`${config}/owner.pem`, `${other}/owner.pem`);
        const kp = await generateEd25519();
        const foreign = await issueCertificate(CLUSTER_CA_TEMPLATE, kp.publicKey, {
          selfSigned: kp,
        });
        await Deno.writeTextFile(`${other}/ca.pem`, pemEncode("CERTIFICATE", foreign));
        const r = await runMetroctl(["--endpoints", cur.target, "--config", other, "node", "list"]);
        assert.equal(r.code, 1);
        assert.match(
          oneErrorLine(r),
          /server certificate is not signed by the pinned cluster CA \(ca\.pem\)/,
        );
      });

      await t.step("--proxy: every connection goes through SOCKS5", async () => {
        const seen: string[] = [];
        const socks = new Socks5Server({
          onRequest: (d, reply) => seen.push(`${d.host}:${d.port}/${reply}`),
        });
        const port = await socks.listen(0);
        try {
          const r = await run(["--proxy", `127.0.0.1:${port}`, "node", "list"]);
          ok(r, "node list via proxy");
          assert.ok(r.stdout.includes(cur.nodeId));
          assert.ok(seen.length > 0, "no SOCKS5 CONNECT seen");
          assert.ok(seen.every((s) => s === `${cur.target}/0`), seen.join(" "));
        } finally {
          await socks.close();
        }
      });

      await t.step("k8s configure pins the API server and writes the kubeconfig", async () => {
        // The API server stand-in: TLS with the node certificate, reached through a SOCKS5 proxy
        // that sends 127.0.0.1:6444 to it (so no fixed host port is needed).
        const api = tls.createServer({
          cert: certificatePem(cur.nodeCertificate),
          key: await exportPkcs8Pem(cur.nodeKeys.privateKey),
        }, (s) => s.end());
        await new Promise<void>((r) => api.listen(0, "127.0.0.1", () => r()));
        const apiPort = (api.address() as { port: number }).port;
        const socks = new Socks5Server({
          connect: (d) => tcpConnect(d.port === 6444 ? { host: "127.0.0.1", port: apiPort } : d),
        });
        const proxyPort = await socks.listen(0);
        await Deno.mkdir(`${tmp}/kube`, { recursive: true });
        await Deno.writeTextFile(
          kubeconfig,
          "apiVersion: v1\nkind: Config\nclusters:\n- name: other\n  cluster: {server: https://x}\ncurrent-context: other\n",
        );
        try {
          const r = await run([
            "--proxy",
            `127.0.0.1:${proxyPort}`,
            "k8s",
            "configure",
            "--context",
            "mk",
          ]);
          ok(r, "k8s configure");
          assert.match(
            r.stderr,
            new RegExp(`Pinning Kubernetes server certificate to "${cur.nodeId}"`),
          );
          assert.match(
            r.stderr,
            /Success! kubeconfig is set up\. You can now run kubectl --context=mk/,
          );
          const doc = parseYaml(await Deno.readTextFile(kubeconfig)) as {
            clusters: { name: string; cluster: Record<string, string> }[];
            users: { name: string; user: { exec: { args: string[]; command: string } } }[];
            contexts: { name: string; context: Record<string, string> }[];
            "current-context": string;
          };
          assert.deepEqual(doc.clusters.map((c) => c.name), ["other", "mk"]);
          const c = doc.clusters[1].cluster;
          assert.equal(c.server, "https://127.0.0.1:6444");
          assert.equal(c["tls-server-name"], cur.nodeId);
          assert.equal(c["proxy-url"], `socks5://127.0.0.1:${proxyPort}`);
          assert.equal(
            atob(c["certificate-authority-data"]),
            pemEncode("CERTIFICATE", cur.caCertificate),
          );
          assert.equal(doc["current-context"], "other");
          assert.deepEqual(doc.contexts[0].context, {
            cluster: "mk",
            user: "mk",
            namespace: "default",
          });
          const exec = doc.users[0].user.exec;
          assert.ok(exec.args.includes("k8scredplugin"));
          // The plugin command as written works.
          const p = await new Deno.Command(exec.command, { args: exec.args, stdout: "piped" })
            .output();
          assert.equal(JSON.parse(new TextDecoder().decode(p.stdout)).kind, "ExecCredential");
        } finally {
          await socks.close();
          await new Promise((r) => api.close(r));
        }
      });

      await t.step("approve without nodes pending", async () => {
        const r = await run(["approve"]);
        ok(r, "approve");
        assert.equal(r.stdout, "");
        assert.match(r.stderr, /There are no nodes pending approval at this time\./);
        const a = await run(["approve", "metropolis-00000000000000000000000000000000"]);
        assert.equal(a.code, 1);
        assert.match(oneErrorLine(a), /couldn't find a new node matching id metropolis-0+$/);
      });

      await t.step("--verbose traces to stderr, data stays on stdout", async () => {
        const r = await run(["--verbose", "node", "list"]);
        ok(r, "verbose");
        assert.match(r.stderr, new RegExp(`\\[verbose\\] leader is ${cur.nodeId} at `));
        assert.doesNotMatch(r.stdout, /verbose/);
      });

      await t.step("the bundle (deno bundle) works like the source", async () => {
        const js = `${tmp}/metroctl.js`;
        const b = await new Deno.Command(Deno.execPath(), {
          args: ["bundle", "--platform", "deno", "-o", js, "metroctl/main.ts"],
          cwd: new URL("..", import.meta.url).pathname,
          stdout: "piped",
          stderr: "piped",
        }).output();
        assert.ok(b.success, new TextDecoder().decode(b.stderr));
        const r = await runMetroctl([...g, "node", "describe"], { entry: js });
        ok(r, "bundled node describe");
        assert.ok(r.stdout.includes(cur.nodeId));
        const u = await runMetroctl(["node", "list", "--bogus"], { entry: js });
        assert.equal(u.code, 2);
      });

      await t.step("install genusb for registering with this cluster", async () => {
        await writeOciLayout(`${tmp}/oci`, { "installer.efi": new Uint8Array(4096).fill(9) });
        await Deno.writeTextFile(
          `${tmp}/base.txtpb`,
          'cluster_register { labels { pairs { key: "rack" value: "r1" } } }\n',
        );
        const img = `${tmp}/register.img`;
        const r = await run([
          "install",
          "genusb",
          "--image",
          `${tmp}/oci`,
          "--node-params",
          `${tmp}/base.txtpb`,
          img,
        ]);
        ok(r, "genusb register");
        const pb = await new Deno.Command("mtype", {
          args: ["-i", `${img}@@1M`, "::metropolis-installer/nodeparams.pb"],
          stdout: "piped",
        }).output();
        const params = fromBinary(NodeParametersSchema, pb.stdout);
        assert.equal(params.cluster.case, "clusterRegister");
        const reg = params.cluster.value as NodeParameters_ClusterRegister;
        assert.deepEqual(reg.caCertificate, cur.caCertificate);
        assert.ok(reg.registerTicket.length > 0);
        assert.deepEqual(reg.labels?.pairs.map((p) => [p.key, p.value]), [["rack", "r1"]]);
        await Deno.remove(img);
      });

      await t.step("cert export and k8scredplugin", async () => {
        const r = await runMetroctl(["--config", config, "cert", "export"], { cwd: tmp });
        ok(r, "cert export");
        assert.equal((await Deno.stat(`${tmp}/owner.key`)).mode! & 0o777, 0o600);
        assert.match(await Deno.readTextFile(`${tmp}/owner.key`), /BEGIN PRIVATE KEY/);
        const p = await runMetroctl(["--config", config, "k8scredplugin"]);
        ok(p, "k8scredplugin");
        const doc = JSON.parse(p.stdout);
        assert.equal(doc.kind, "ExecCredential");
        assert.match(doc.status.clientCertificateData, /BEGIN CERTIFICATE/);
      });
    } finally {
      await cur.stop();
      await Deno.remove(tmp, { recursive: true });
    }
  },
});
