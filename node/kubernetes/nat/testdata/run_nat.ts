/**
 * Runs {@link podNat} under a supervisor inside whatever network namespace this process is in
 * (nat_test.ts starts it with `ip netns exec`): prints `healthy` once the table is in, stops
 * when stdin closes and prints `stopped` once the runnable has cleaned up.
 */
import { LogTree } from "../../../base/logtree/logtree.ts";
import { run, signal, Supervisor, untilAborted } from "../../../base/supervisor/supervisor.ts";
import { waitUntil } from "../../../base/supervisor/testing.ts";
import { podNat } from "../nat.ts";

const tree = new LogTree();
const sup = new Supervisor(tree, async (ctx) => {
  run(ctx, "nat", podNat());
  signal(ctx, "healthy");
  await untilAborted(ctx);
}, { onRootExit: () => {} });
await waitUntil(() => sup.state("root.nat") === "HEALTHY", "nat healthy", 10_000);
console.log("healthy");
for await (const _ of Deno.stdin.readable) { /* until the parent closes stdin */ }
await sup.stop();
await waitUntil(() => sup.state("root.nat") !== "HEALTHY", "nat stopped");
console.log("stopped");
