/**
 * The NetworkPolicy controller with real nftables and real traffic: a throwaway "node" network
 * namespace runs the controller (testdata/run_npc.ts, fake apiserver fed over stdin) and routes
 * for two "pod" namespaces attached the way the CNI ptp plugin attaches pods (a veth each, the
 * gateway address on the node side, /32 routes). Needs root.
 */
import assert from "node:assert/strict";
import type { KubeObject } from "../client/client.ts";
import { NPC_PATHS } from "./npc.ts";
import { NPC_TABLE } from "./ruleset.ts";

const ID = `${Deno.pid % 100000}`;
const NODE = `npc-n-${ID}`;
const POD = { web: `npc-w-${ID}`, client: `npc-c-${ID}` };
const IP = { web: "10.192.1.10", client: "10.192.1.11", gateway: "10.192.1.1" };
const RUNNER = new URL("./testdata/run_npc.ts", import.meta.url).pathname;
const dec = new TextDecoder();

async function sh(...argv: string[]): Promise<{ ok: boolean; out: string }> {
  const o = await new Deno.Command(argv[0], {
    args: argv.slice(1),
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  return { ok: o.success, out: dec.decode(o.stdout) + dec.decode(o.stderr) };
}

async function must(...argv: string[]): Promise<string> {
  const r = await sh(...argv);
  if (!r.ok) throw new Error(`${argv.join(" ")}: ${r.out}`);
  return r.out;
}

/** A TCP connection from namespace `ns` to `ip:port`: the listener's greeting, or "" if refused. */
async function connect(ns: string, ip: string, port: number): Promise<string> {
  const r = await sh("ip", "netns", "exec", ns, "busybox", "nc", "-w", "3", ip, String(port));
  return r.ok ? r.out.trim() : "";
}

async function setup(): Promise<Deno.ChildProcess[]> {
  for (const ns of [NODE, POD.web, POD.client]) await must("ip", "netns", "add", ns);
  await must("ip", "-n", NODE, "link", "set", "lo", "up");
  await must("ip", "netns", "exec", NODE, "sysctl", "-qw", "net.ipv4.ip_forward=1");
  for (const [name, ns] of Object.entries(POD) as [keyof typeof POD, string][]) {
    const host = `v${name}`;
    await must(
      "ip",
      "link",
      "add",
      host,
      "netns",
      NODE,
      "type",
      "veth",
      "peer",
      "eth0",
      "netns",
      ns,
    );
    await must("ip", "-n", NODE, "addr", "add", `${IP.gateway}/32`, "dev", host);
    await must("ip", "-n", NODE, "link", "set", host, "up");
    await must("ip", "-n", NODE, "route", "add", `${IP[name]}/32`, "dev", host);
    await must("ip", "-n", ns, "addr", "add", `${IP[name]}/32`, "dev", "eth0");
    await must("ip", "-n", ns, "link", "set", "eth0", "up");
    await must("ip", "-n", ns, "link", "set", "lo", "up");
    await must("ip", "-n", ns, "route", "add", IP.gateway, "dev", "eth0");
    await must("ip", "-n", ns, "route", "add", "default", "via", IP.gateway);
  }
  // Listeners: the web pod on 8080, and the node itself on 5353 (stands for the node-local DNS).
  const listen = (ns: string, port: number, text: string) =>
    new Deno.Command("ip", {
      args: [
        "netns",
        "exec",
        ns,
        "busybox",
        "nc",
        "-ll",
        "-p",
        String(port),
        "-e",
        "busybox",
        "echo",
        text,
      ],
      stdout: "null",
      stderr: "null",
    }).spawn();
  return [listen(POD.web, 8080, "web"), listen(NODE, 5353, "node")];
}

const pod = (name: keyof typeof POD, labels: Record<string, string>): KubeObject => ({
  metadata: { namespace: "default", name, labels },
  spec: {
    nodeName: "n1",
    containers: [{ name: "c", ports: [{ name: "http", containerPort: 8080 }] }],
  },
  status: { phase: "Running", podIP: IP[name] },
});

const policy = (name: string, spec: KubeObject): KubeObject => ({
  metadata: { namespace: "default", name },
  spec,
});

Deno.test({
  name:
    "npc: policies take effect on pod traffic, the node reaches its pods, stop removes the table",
  ignore: Deno.uid() !== 0,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const listeners: Deno.ChildProcess[] = [];
    let child: Deno.ChildProcess | undefined;
    try {
      listeners.push(...await setup());
      child = new Deno.Command("ip", {
        args: ["netns", "exec", NODE, Deno.execPath(), "run", "-A", RUNNER],
        stdin: "piped",
        stdout: "piped",
        stderr: "inherit",
      }).spawn();
      const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
      const w = child.stdin.getWriter();
      let out = "";
      const waitFor = async (word: string) => {
        while (!out.includes(word)) {
          const { value, done } = await reader.read();
          if (done) throw new Error(`runner ended waiting for ${word}: ${out}`);
          out += value;
        }
      };
      let applied = 1;
      /** Sends watch events and waits for the table they cause. */
      type Event = [string, "ADDED" | "MODIFIED" | "DELETED", KubeObject];
      const write = async (...events: Event[]) => {
        for (const [path, type, object] of events) {
          await w.write(new TextEncoder().encode(JSON.stringify({ path, type, object }) + "\n"));
        }
      };
      /** Sends one event that changes the table and waits until the new table is in. */
      const send = async (event: Event) => {
        await write(event);
        await waitFor(`applied ${++applied}`);
      };
      await waitFor("applied 1");
      await waitFor("healthy");
      // Without policies, pods do not change the table.
      await write(
        [NPC_PATHS.namespaces, "ADDED", { metadata: { name: "default", labels: {} } }],
        [NPC_PATHS.pods, "ADDED", pod("web", { app: "web" })],
        [NPC_PATHS.pods, "ADDED", pod("client", { app: "client" })],
      );

      // No policy: everything flows.
      assert.equal(await connect(POD.client, IP.web, 8080), "web");
      assert.equal(await connect(POD.client, IP.gateway, 5353), "node");

      // Default-deny ingress: the pod is unreachable from the other pod, not from its node.
      await send([
        NPC_PATHS.policies,
        "ADDED",
        policy("deny", { podSelector: {}, policyTypes: ["Ingress"] }),
      ]);
      assert.equal(await connect(POD.client, IP.web, 8080), "");
      assert.equal(await connect(NODE, IP.web, 8080), "web");
      assert.equal(await connect(POD.client, IP.gateway, 5353), "node");

      // Allow from app=client to the named port.
      await send([
        NPC_PATHS.policies,
        "ADDED",
        policy("web-from-client", {
          podSelector: { matchLabels: { app: "web" } },
          ingress: [{
            from: [{ podSelector: { matchLabels: { app: "client" } } }],
            ports: [{ port: "http" }],
          }],
        }),
      ]);
      assert.equal(await connect(POD.client, IP.web, 8080), "web");

      // The client loses its label: the allow no longer covers it.
      await send([NPC_PATHS.pods, "MODIFIED", pod("client", { app: "other" })]);
      assert.equal(await connect(POD.client, IP.web, 8080), "");
      await send([NPC_PATHS.pods, "MODIFIED", pod("client", { app: "client" })]);
      assert.equal(await connect(POD.client, IP.web, 8080), "web");

      // Default-deny egress of the client: no pod, no node service (the input hook).
      await send([
        NPC_PATHS.policies,
        "ADDED",
        policy("client-egress", {
          podSelector: { matchLabels: { app: "client" } },
          policyTypes: ["Egress"],
        }),
      ]);
      assert.equal(await connect(POD.client, IP.web, 8080), "");
      assert.equal(await connect(POD.client, IP.gateway, 5353), "");

      // Egress to port 5353 anywhere (as an allow-DNS policy would): the node again, not the pod.
      await send([
        NPC_PATHS.policies,
        "MODIFIED",
        policy("client-egress", {
          podSelector: { matchLabels: { app: "client" } },
          policyTypes: ["Egress"],
          egress: [{ ports: [{ port: 5353 }] }],
        }),
      ]);
      assert.equal(await connect(POD.client, IP.gateway, 5353), "node");
      assert.equal(await connect(POD.client, IP.web, 8080), "");

      // Policies deleted: open again.
      for (const name of ["client-egress", "deny", "web-from-client"]) {
        await send([NPC_PATHS.policies, "DELETED", policy(name, {})]);
      }
      assert.equal(await connect(POD.client, IP.web, 8080), "web");

      const listed = await sh("ip", "netns", "exec", NODE, "nft", "list", "table", "ip", NPC_TABLE);
      assert.ok(listed.ok, listed.out);
      await w.close();
      await waitFor("stopped");
      const gone = await sh("ip", "netns", "exec", NODE, "nft", "list", "table", "ip", NPC_TABLE);
      assert.equal(gone.ok, false, "the table is removed on stop");
      assert.equal((await child.status).success, true);
      child = undefined;
    } finally {
      try {
        child?.kill();
        await child?.status;
      } catch { /* already gone */ }
      for (const l of listeners) {
        try {
          l.kill();
          await l.status;
        } catch { /* already gone */ }
      }
      for (const ns of [NODE, POD.web, POD.client]) await sh("ip", "netns", "del", ns);
    }
  },
});
