/**
 * Runs the cluster DNS with its defaults (169.254.77.53:53, address added to `lo`) inside the
 * network namespace it is started in (dns_netns_test.ts uses `ip netns exec`), asks it one
 * question over UDP, stops it, and prints one JSON line with what it saw.
 */
import dgram from "node:dgram";
import { LogTree } from "../../../base/logtree/logtree.ts";
import { Rtnl } from "../../../base/net/rtnl.ts";
import { run, signal, Supervisor, untilAborted } from "../../../base/supervisor/supervisor.ts";
import { waitUntil } from "../../../base/supervisor/testing.ts";
import { clusterDns } from "../dns.ts";
import { decodeMessage, queryMessage, TYPE } from "../message.ts";
import { FakeKube } from "../testing.ts";

function loAddresses(): string[] {
  const r = new Rtnl();
  try {
    const lo = r.links().find((l) => l.name === "lo")!;
    return r.addresses().filter((a) => a.index === lo.index).map((a) =>
      `${a.address}/${a.prefixLen}`
    );
  } finally {
    r.close();
  }
}

const kube = new FakeKube();
kube.emit("/api/v1/services", "ADDED", {
  metadata: { name: "kubernetes", namespace: "default" },
  spec: { clusterIP: "10.224.0.1", ports: [{ name: "https", port: 443 }] },
});
const sup = new Supervisor(new LogTree(), async (ctx) => {
  run(ctx, "dns", clusterDns({ client: kube.client, resolvConf: "/nonexistent" }));
  signal(ctx, "healthy");
  await untilAborted(ctx);
}, { onRootExit: () => {} });
await waitUntil(() => sup.state("root.dns") === "HEALTHY", "dns healthy", 10_000);
const during = loAddresses();
const q = queryMessage("kubernetes.default.svc.cluster.local", TYPE.A);
const s = dgram.createSocket("udp4");
const reply = await new Promise<Uint8Array>((resolve, reject) => {
  const t = setTimeout(() => reject(new Error("no reply")), 5000);
  s.on("message", (m) => (clearTimeout(t), resolve(new Uint8Array(m))));
  s.send(q, 53, "169.254.77.53");
});
s.close();
const answers = decodeMessage(reply).answers.map((a) => a.data.kind === "a" ? a.data.address : "");
await sup.stop();
console.log(JSON.stringify({ during, answers, after: loAddresses() }));
