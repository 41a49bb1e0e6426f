/**
 * Runs {@link networkPolicyController} under a supervisor inside whatever network namespace this
 * process is in (npc_test.ts starts it with `ip netns exec`), against a fake apiserver fed from
 * stdin: each line is `{"path", "type", "object"}` and becomes a watch event. Prints `healthy`
 * once the controller is, `applied <n>` after every table it puts in, and `stopped` once it has
 * cleaned up after stdin closed.
 */
import { Value } from "../../../base/event/value.ts";
import { LogTree } from "../../../base/logtree/logtree.ts";
import { run, signal, Supervisor, untilAborted } from "../../../base/supervisor/supervisor.ts";
import { waitUntil } from "../../../base/supervisor/testing.ts";
import { FakeKube } from "../../dns/testing.ts";
import { networkPolicyController } from "../npc.ts";

const kube = new FakeKube();
const applied = new Value<string>();
let n = 0;
(async () => {
  for await (const _ of applied.watch()) console.log(`applied ${++n}`);
})();
const sup = new Supervisor(new LogTree(), async (ctx) => {
  run(ctx, "npc", networkPolicyController({ client: kube.client, nodeName: "n1", applied }));
  signal(ctx, "healthy");
  await untilAborted(ctx);
}, { onRootExit: () => {} });
await waitUntil(() => sup.state("root.npc") === "HEALTHY", "npc healthy", 10_000);
console.log("healthy");
const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream());
let buf = "";
for await (const chunk of lines) {
  buf += chunk;
  let nl: number;
  while ((nl = buf.indexOf("\n")) >= 0) {
    const ev = JSON.parse(buf.slice(0, nl));
    buf = buf.slice(nl + 1);
    kube.emit(ev.path, ev.type, ev.object);
  }
}
await sup.stop();
await waitUntil(() => sup.state("root.npc") !== "HEALTHY", "npc stopped");
console.log("stopped");
Deno.exit(0);
