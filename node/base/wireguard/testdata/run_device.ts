/**
 * Runs inside a throwaway network namespace (device_test.ts): creates link `kind` named
 * `name`, and for kind "wireguard" configures and reads it back; prints one JSON line.
 */
import { NetlinkError, Rtnl } from "../../net/rtnl.ts";
import { WireguardClient } from "../device.ts";
import { generateKeyPair } from "../key.ts";

const [kind, name] = Deno.args;
const rt = new Rtnl();
try {
  let index: number;
  try {
    index = rt.linkAdd(name, kind, 1420);
  } catch (e) {
    if (e instanceof NetlinkError) {
      console.log(JSON.stringify({ refused: e.message, errno: e.errno }));
      Deno.exit(0);
    }
    throw e;
  }
  const link = rt.links().find((l) => l.index === index)!;
  const out: Record<string, unknown> = { index, name: link.name, kind: link.kind };
  if (kind === "wireguard") {
    const own = await generateKeyPair();
    const peer = await generateKeyPair();
    const wg = new WireguardClient();
    try {
      wg.set({
        ifname: name,
        privateKey: own.privateKey,
        listenPort: 7838,
        peers: [{
          publicKey: peer.publicKey,
          endpoint: "10.1.58.3:7838",
          allowedIps: ["10.192.1.0/24", "10.1.58.3/32"],
          replaceAllowedIps: true,
        }],
      });
      const d = wg.get(name);
      out.ownKeyMatches = d.publicKey === own.publicKey;
      out.device = {
        ...d,
        publicKey: undefined,
        peers: d.peers.map((p) => ({ ...p, publicKey: p.publicKey === peer.publicKey })),
      };
      wg.set({ ifname: name, peers: [{ publicKey: peer.publicKey, remove: true }] });
      out.peersAfterRemove = wg.get(name).peers.length;
    } finally {
      wg.close();
    }
  }
  rt.linkDelete(index);
  out.gone = !rt.links().some((l) => l.name === name);
  console.log(JSON.stringify(out));
} finally {
  rt.close();
}
