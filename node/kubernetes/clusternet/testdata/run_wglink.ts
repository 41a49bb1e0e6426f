/**
 * Drives {@link KernelWireguard} inside the network namespace it is started in (wglink_test.ts):
 * create, add two peers, update one, remove the other, destroy; prints one JSON line with what
 * the kernel reported at each step, or `{refused}` when the kernel has no WireGuard.
 */
import { NetlinkError, Rtnl } from "../../../base/net/rtnl.ts";
import { generateKeyPair } from "../../../base/wireguard/key.ts";
import { KernelWireguard } from "../wglink.ts";

const own = await generateKeyPair();
const b = await generateKeyPair();
const c = await generateKeyPair();
const link = new KernelWireguard();
let kernelKey: string;
try {
  kernelKey = await link.create(own.privateKey);
} catch (e) {
  if (!(e instanceof NetlinkError)) throw e;
  console.log(JSON.stringify({ refused: e.message }));
  Deno.exit(0);
}
const rt = new Rtnl();
const kind = rt.links().find((l) => l.name === "clusternet")?.kind;
rt.close();
link.apply([
  { publicKey: b.publicKey, endpoint: "10.1.58.3:7838", allowedIps: ["10.192.1.0/24"] },
  { publicKey: c.publicKey, endpoint: "10.1.58.4:7838", allowedIps: ["10.192.2.0/24"] },
], []);
const two = link.peers().length;
link.apply([{ publicKey: b.publicKey, endpoint: "10.1.58.3:7838", allowedIps: ["10.1.58.3/32"] }], [
  c.publicKey,
]);
const after = link.peers().map((p) => ({ ...p, publicKey: p.publicKey === b.publicKey }));
const route = new TextDecoder().decode(
  (await new Deno.Command("ip", { args: ["route", "show", "dev", "clusternet"] }).output()).stdout,
).trim();
link.destroy();
link.destroy(); // absent: fine
const gone = !new Rtnl().links().some((l) => l.name === "clusternet");
console.log(
  JSON.stringify({ keyMatches: kernelKey === own.publicKey, kind, two, after, route, gone }),
);
