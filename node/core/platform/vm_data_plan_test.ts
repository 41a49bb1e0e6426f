import assert from "node:assert/strict";
import { NodeStorageSecurity as S } from "../../../proto/gen/metropolis/proto/common/common_pb.ts";
import { tableLine } from "../../base/devicemapper/targets.ts";
import { MS } from "../../base/sys/mount.ts";
import {
  cryptTable,
  DATA_EXEC_SUBTREES,
  dataMountSteps,
  dataUnmountTargets,
  integrityTable,
  mkfsXfsArgv,
  volumeKey,
  wholeDataSectors,
} from "./vm_data_plan.ts";

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
const DATA_KEY = Uint8Array.from({ length: 32 }, (_, i) => i);

Deno.test("volume keys: HKDF-SHA256, empty salt, info metropolis-data:<mode>, 64/32 bytes", async () => {
  // Expected values computed independently (RFC 5869 with Python's hmac module).
  assert.equal(
    hex(await volumeKey(S.ENCRYPTED, DATA_KEY)),
    "2b2903a3ee3738ac9fc6982b553adfff4dbcd98893e1c465c08b6c83fbc249dc" +
      "12a29e26f512a55cf2a8438b2556c71126dff47eb2a954aaf5600f57bc31afd7",
  );
  assert.equal(
    hex(await volumeKey(S.AUTHENTICATED_ENCRYPTED, DATA_KEY)),
    "655674ebf63f03289c8b23dfdc998155ccbc35c0726d679fd0a606b324555145",
  );
});

Deno.test("volume keys: INSECURE has none, and the data key must be 32 bytes", async () => {
  await assert.rejects(volumeKey(S.INSECURE, DATA_KEY), /INSECURE has no volume key/);
  await assert.rejects(volumeKey(S.ENCRYPTED, new Uint8Array(16)), /16 bytes, expected 32/);
});

Deno.test("crypt table: ENCRYPTED is AES-256-XTS with 4 KiB sectors over whole sectors only", () => {
  const key = new Uint8Array(64).fill(0xab);
  const t = cryptTable(S.ENCRYPTED, "252:4", 8_388_613, key);
  assert.equal(
    tableLine(t),
    `0 8388608 crypt aes-xts-plain64 ${
      "ab".repeat(64)
    } 0 252:4 0 2 sector_size:4096 iv_large_sectors`,
  );
  assert.throws(() => cryptTable(S.ENCRYPTED, "252:4", 8, new Uint8Array(32)), /64-byte key/);
  assert.throws(() => cryptTable(S.ENCRYPTED, "252:4", 7, key), /7 sectors is too small/);
});

Deno.test("crypt table: AUTHENTICATED_ENCRYPTED is AES-256-GCM with random IVs over dm-integrity", () => {
  const t = cryptTable(S.AUTHENTICATED_ENCRYPTED, "253:1", 4096, new Uint8Array(32));
  assert.equal(
    tableLine(t),
    `0 4096 crypt capi:gcm(aes)-random ${
      "00".repeat(32)
    } 0 253:1 0 2 integrity:28:aead sector_size:4096`,
  );
  assert.throws(
    () => cryptTable(S.INSECURE, "253:1", 4096, new Uint8Array(32)),
    /INSECURE needs a \(no\)-byte key/,
  );
});

Deno.test("integrity table: journal, 28-byte tags, 4 KiB blocks, fixed padding", () => {
  assert.equal(
    tableLine(integrityTable("252:4", 8)),
    "0 8 integrity 252:4 0 28 J 2 block_size:4096 fix_padding",
  );
});

Deno.test("wholeDataSectors rounds down to 4 KiB", () => {
  assert.deepEqual([0, 7, 8, 15, 16].map(wholeDataSectors), [0, 0, 8, 8, 16]);
});

Deno.test("mkfs.xfs: the image's binary, quiet, no discard, forced", () => {
  assert.deepEqual(mkfsXfsArgv("/dev/dm-2"), ["/bin/mkfs.xfs", "-q", "-K", "-f", "/dev/dm-2"]);
});

Deno.test("data mounts: noexec XFS with prjquota, exec only in the bound subtrees", () => {
  const steps = dataMountSteps("/dev/dm-2", "/tmp/x/data");
  assert.deepEqual(steps[0], {
    source: "/dev/dm-2",
    target: "/tmp/x/data",
    fstype: "xfs",
    flags: MS.NOSUID | MS.NODEV | MS.NOEXEC,
    data: "prjquota",
  });
  assert.equal(steps.length, 1 + 2 * DATA_EXEC_SUBTREES.length);
  assert.deepEqual(steps[1], {
    source: "/tmp/x/data/containerd",
    target: "/tmp/x/data/containerd",
    fstype: null,
    flags: MS.BIND,
    mkdir: true,
  });
  const remount = steps[2];
  assert.equal(remount.flags & MS.NOEXEC, 0);
  assert.ok(remount.flags & MS.REMOUNT && remount.flags & MS.BIND && remount.flags & MS.NOSUID);
  assert.deepEqual(steps.filter((s) => s.mkdir).map((s) => s.target), [
    "/tmp/x/data/containerd",
    "/tmp/x/data/kubernetes/kubelet",
    "/tmp/x/data/volumes",
  ]);
});

Deno.test("data unmount order: each mount of the plan once, the exec subtrees before /data", () => {
  const targets = dataUnmountTargets("/mnt/d");
  const mounted = new Set(dataMountSteps("/dev/x", "/mnt/d").map((s) => s.target));
  assert.deepEqual(new Set(targets), mounted);
  assert.equal(targets.length, mounted.size);
  assert.equal(targets.at(-1), "/mnt/d");
  for (const sub of DATA_EXEC_SUBTREES) assert.ok(targets.includes(`/mnt/d${sub.slice(5)}`));
});
