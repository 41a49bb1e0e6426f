/**
 * The WireGuard netlink codec against byte layouts written out by hand from
 * `<linux/wireguard.h>` and `<linux/netlink.h>`: little-endian `nlattr` headers (length, type with
 * NLA_F_NESTED 0x8000 on nested ones), 4-byte alignment, `sockaddr_in` with the port in network
 * order.
 */
import assert from "node:assert/strict";
import {
  endpointText,
  getDeviceMessage,
  keyBytes,
  keyText,
  parseDevice,
  setDeviceMessage,
  sockaddrIn,
} from "./codec.ts";
import { getFamilyMessage, parseFamilyId } from "./genl.ts";

const hex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
const unhex = (s: string) => new Uint8Array(s.match(/../g)!.map((h) => parseInt(h, 16)));
const rep = (byte: string, n = 32) => byte.repeat(n);
const KEY_A = keyText(unhex(rep("11")));
const KEY_B = keyText(unhex(rep("22")));
const KEY_C = keyText(unhex(rep("33")));

Deno.test("wireguard codec: keys are base64 of exactly 32 bytes", () => {
  assert.equal(hex(keyBytes(KEY_A)), rep("11"));
  assert.throws(() => keyBytes(btoa("short")), /5 bytes, not 32/);
  assert.throws(() => keyBytes("!!!"), /not base64/);
});

Deno.test("genl: GETFAMILY asks the controller (type 0x10) for the family by name", () => {
  // len 36, type 0x10, REQUEST|ACK, seq 3 | cmd 3 version 1 | FAMILY_NAME (len 14) "wireguard\0"
  assert.equal(
    hex(getFamilyMessage(3, "wireguard")),
    "24000000" + "1000" + "0500" + "03000000" + "00000000" + "03010000" +
      "0e00" + "0200" + hex(new TextEncoder().encode("wireguard\0")) + "0000",
  );
  // A controller reply: cmd NEWFAMILY (1) version 2, FAMILY_ID (len 6) 0x1b, FAMILY_NAME.
  const reply = unhex(
    "01020000" + "0600" + "0100" + "1b00" + "0000" + "0800" + "0200" + "77673000",
  );
  assert.equal(parseFamilyId(reply), 0x1b);
  assert.equal(parseFamilyId(unhex("01020000")), undefined);
});

Deno.test("wireguard codec: SET_DEVICE with key, port and one peer, byte for byte", () => {
  const m = setDeviceMessage(5, 0x1b, {
    ifname: "wg0",
    privateKey: KEY_A,
    listenPort: 7838,
    peers: [{
      publicKey: KEY_B,
      replaceAllowedIps: true,
      endpoint: "10.1.58.3:7838",
      allowedIps: ["10.192.1.0/24"],
    }],
  });
  const allowed = "1c00" + "0080" + // one allowed IP (nested, index 0)
    "0600" + "0100" + "0200" + "0000" + // FAMILY AF_INET (u16 + pad)
    "0800" + "0200" + "0ac00100" + // IPADDR 10.192.1.0
    "0500" + "0300" + "18" + "000000"; // CIDR_MASK 24 (u8 + pad)
  const peer = "6400" + "0080" + // one peer (nested, index 0), 100 bytes
    "2400" + "0100" + rep("22") + // PUBLIC_KEY
    "0800" + "0300" + "02000000" + // FLAGS REPLACE_ALLOWEDIPS
    "1400" + "0400" + "0200" + "1e9e" + "0a013a03" + "00".repeat(8) + // ENDPOINT sockaddr_in
    "2000" + "0980" + allowed; // ALLOWEDIPS (nested)
  assert.equal(
    hex(m),
    "b0000000" + "1b00" + "0500" + "05000000" + "00000000" + // nlmsghdr: 176 bytes, REQUEST|ACK
      "01010000" + // genlmsghdr: SET_DEVICE, version 1
      "0800" + "0200" + "77673000" + // IFNAME "wg0\0"
      "2400" + "0300" + rep("11") + // PRIVATE_KEY
      "0600" + "0600" + "9e1e" + "0000" + // LISTEN_PORT 7838 (host order u16 + pad)
      "6800" + "0880" + peer, // PEERS (nested)
  );
});

Deno.test("wireguard codec: a removed peer carries only its key and REMOVE_ME", () => {
  const m = setDeviceMessage(1, 0x1b, {
    ifname: "wg0",
    peers: [{ publicKey: KEY_B, remove: true, endpoint: "10.0.0.1:1", allowedIps: ["10.0.0.0/8"] }],
  });
  assert.equal(
    hex(m.subarray(16)),
    "01010000" + "0800" + "0200" + "77673000" +
      "3400" + "0880" + "3000" + "0080" + "2400" + "0100" + rep("22") +
      "0800" + "0300" + "01000000",
  );
  assert.throws(
    () =>
      setDeviceMessage(1, 0x1b, { ifname: "x", peers: [{ publicKey: KEY_B, allowedIps: ["x"] }] }),
    /not an IPv4 CIDR/,
  );
});

Deno.test("wireguard codec: GET_DEVICE is a dump request naming the interface", () => {
  assert.equal(
    hex(getDeviceMessage(8, 0x1b, "clusternet")),
    "24000000" + "1b00" + "0103" + "08000000" + "00000000" + "00010000" +
      "0f00" + "0200" + hex(new TextEncoder().encode("clusternet\0")) + "00",
  );
});

Deno.test("wireguard codec: sockaddr_in round trip, port in network byte order", () => {
  assert.equal(hex(sockaddrIn("192.168.1.2:51820")), "0200" + "ca6c" + "c0a80102" + "00".repeat(8));
  assert.equal(endpointText(sockaddrIn("192.168.1.2:51820")), "192.168.1.2:51820");
  // sockaddr_in6 [fe80::1]:7838 (family 10, port, flowinfo, address, scope id)
  const v6 = "0a00" + "1e9e" + "00000000" + "fe80" + "0000".repeat(6) + "0001" + "00000000";
  assert.equal(endpointText(unhex(v6)), "[fe80:0:0:0:0:0:0:1]:7838");
  assert.equal(endpointText(new Uint8Array()), "");
  assert.throws(() => sockaddrIn("10.0.0.1"), /not an IPv4 endpoint/);
});

Deno.test("wireguard codec: a GET_DEVICE dump split over two messages is merged", () => {
  const allowed = (ip: string, bits: string) =>
    "1c00" + "0080" + "0600" + "0100" + "0200" + "0000" + "0800" + "0200" + ip +
    "0500" + "0300" + bits + "000000";
  const first = "00010000" + // GET_DEVICE reply, version 1
    "0800" + "0100" + "07000000" + // IFINDEX 7
    "0f00" + "0200" + hex(new TextEncoder().encode("clusternet\0")) + "00" +
    "2400" + "0300" + rep("00") + // PRIVATE_KEY (zero here)
    "2400" + "0400" + rep("33") + // PUBLIC_KEY
    "0600" + "0600" + "9e1e" + "0000" + // LISTEN_PORT 7838
    "8c00" + "0880" + // PEERS
    "8800" + "0080" +
    "2400" + "0100" + rep("22") +
    "1400" + "0400" + "0200" + "1e9e" + "0a013a03" + "00".repeat(8) +
    "1400" + "0600" + "00f1536500000000" + "0000000000000000" + // LAST_HANDSHAKE 1700000000 s
    "0c00" + "0700" + "d204000000000000" + // RX_BYTES 1234
    "0c00" + "0800" + "2e16000000000000" + // TX_BYTES 5678
    "2000" + "0980" + allowed("0ac00100", "18");
  const second = "00010000" + "0800" + "0100" + "07000000" +
    "4c00" + "0880" + "4800" + "0080" + "2400" + "0100" + rep("22") +
    "2000" + "0980" + allowed("0a013a03", "20");
  const d = parseDevice([unhex(first), unhex(second)]);
  assert.deepEqual(d, {
    ifindex: 7,
    ifname: "clusternet",
    publicKey: KEY_C,
    listenPort: 7838,
    peers: [{
      publicKey: KEY_B,
      endpoint: "10.1.58.3:7838",
      allowedIps: ["10.192.1.0/24", "10.1.58.3/32"],
      lastHandshake: 1700000000,
      rxBytes: 1234,
      txBytes: 5678,
    }],
  });
  // Encoded requests decode back through the same attribute layout.
  assert.equal(parseDevice([]).peers.length, 0);
});
