import assert from "node:assert/strict";
import { kubeProxyArgs, kubeProxyConfig } from "./kube_proxy.ts";

Deno.test("kube-proxy config: nftables, pod CIDR, NodePorts on the node address only", () => {
  const c = kubeProxyConfig({ nodeId: "n1", address: "10.1.0.4", kubeconfig: "/k/kc" });
  assert.equal(c.kind, "KubeProxyConfiguration");
  assert.equal(c.mode, "nftables");
  assert.equal(c.clusterCIDR, "10.192.0.0/11");
  assert.equal(c.hostnameOverride, "n1");
  assert.deepEqual(c.nodePortAddresses, ["10.1.0.4/32"]);
  assert.deepEqual(c.clientConnection, { kubeconfig: "/k/kc" });
  assert.match(c.metricsBindAddress as string, /^127\.0\.0\.1:/);
  assert.match(c.healthzBindAddress as string, /^127\.0\.0\.1:/);
  // Host-global conntrack sysctls stay untouched.
  assert.deepEqual((c.conntrack as Record<string, unknown>).maxPerCore, 0);
});

Deno.test("kube-proxy args: only the config file", () => {
  assert.deepEqual(kubeProxyArgs("/c.json"), ["kube-proxy", "--config=/c.json"]);
});
