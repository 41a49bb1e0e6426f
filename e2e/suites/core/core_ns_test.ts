/**
 * core suite on namespace nodes (testing.md §4.1): 2 nodes, TPM DISABLED, NEEDS_INSECURE, domain
 * `cluster.test`. Steps and timeouts from upstream (core_steps.ts, shared with the VM run).
 */
import { launchCluster } from "../../launch/cluster.ts";
import { resolveOptions } from "../../launch/options.ts";
import { coreSteps } from "./core_steps.ts";

Deno.test({
  name: "core: 2 namespace nodes form a cluster, survive a reboot",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const c = await launchCluster(resolveOptions({
      "num-nodes": 2,
      "tpm-mode": "disabled",
      "storage-security": "needs-insecure",
      "cluster-domain": "cluster.test",
      subnet: "10.1.41.0/24",
      tpm: "none",
      // A node whose agent dies reboots and rejoins, as a real node would (Deno's HTTP/2 can abort
      // on GOAWAY races; the cluster must ride through such restarts).
      "allow-reboot": true,
    }));
    let ok = false;
    try {
      await coreSteps(c, { healthy: 20, logs: 20, reboot: 60, metrics: 60 });
      ok = true;
    } finally {
      if (!ok) console.log(`core: keeping state in ${c.stateDir}`);
      await c.close(ok);
    }
  },
});
