/**
 * Drives {@link KernelRoutes} inside the network namespace it is started in (kernel_test.ts uses
 * `ip netns exec`): `replace <dst/len> <gateway>` prints true/false, `list` prints the installed
 * clusternet routes as JSON, `remove-all` removes them.
 */
import { KernelRoutes } from "../kernel.ts";

const t = new KernelRoutes();
const [cmd, a, b] = Deno.args;
if (cmd === "replace") {
  const [dst, len] = a.split("/");
  console.log(JSON.stringify(t.replace({ dst, dstLen: Number(len), gateway: b })));
} else if (cmd === "list") {
  console.log(JSON.stringify(t.installed()));
} else if (cmd === "remove-all") {
  for (const r of t.installed()) t.remove(r);
  t.remove({ dst: "10.192.99.0", dstLen: 24, gateway: "10.1.0.3", oif: 1 }); // absent: no error
  console.log("ok");
} else {
  throw new Error(`unknown command ${cmd}`);
}
