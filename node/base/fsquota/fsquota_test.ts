import assert from "node:assert/strict";
import {
  bytesToBlocks,
  decodeDqBlk,
  decodeFsXattr,
  DQBLK_SIZE,
  encodeDqBlk,
  encodeFsXattr,
  freeProjectId,
  FS_IOC_FSGETXATTR,
  FS_IOC_FSSETXATTR,
  getQuota,
  kernelHasXfsQuota,
  projectQuotasEnforced,
  Q,
  qcmd,
  removeQuota,
  setQuota,
} from "./fsquota.ts";
import { scratchXfs } from "./testing.ts";

const MiB = 1024n * 1024n;

Deno.test("fsquota codecs: ioctl numbers and QCMD as the kernel headers compute them", () => {
  assert.equal(FS_IOC_FSGETXATTR, 0x801c581f);
  assert.equal(FS_IOC_FSSETXATTR, 0x401c5820);
  assert.equal(qcmd(Q.SETQUOTA, Q.PRJQUOTA), 0x80000802);
  const x = { xflags: 0x200, extsize: 1, nextents: 2, projid: 77, cowextsize: 3 };
  assert.deepEqual(decodeFsXattr(encodeFsXattr(x)), x);
  const q = {
    bhardlimit: 10n,
    bsoftlimit: 9n,
    curspace: 1n << 40n,
    ihardlimit: 8n,
    isoftlimit: 7n,
    curinodes: 6n,
    btime: 5n,
    itime: 4n,
    valid: 5,
    id: 42,
  };
  const b = encodeDqBlk(q);
  assert.equal(b.length, DQBLK_SIZE);
  assert.deepEqual(decodeDqBlk(b), q);
  assert.equal(bytesToBlocks(1n), 1n);
  assert.equal(bytesToBlocks(2048n), 2n);
  assert.equal(bytesToBlocks(2049n), 3n);
});

Deno.test("fsquota: the smallest free project ID skips used ones and reuses gaps", () => {
  const next = (used: number[]) => (id: number) => used.filter((u) => u >= id).sort()[0];
  assert.equal(freeProjectId(next([])), 1);
  assert.equal(freeProjectId(next([0])), 1);
  assert.equal(freeProjectId(next([1, 2, 3])), 4);
  assert.equal(freeProjectId(next([1, 2, 5])), 3);
  assert.equal(freeProjectId(next([2])), 1);
});

/** `df -B1` of `dir`: the size statfs reports (the project quota for a quota'd directory). */
async function dfSize(dir: string): Promise<bigint> {
  const out = await new Deno.Command("df", {
    args: ["-B1", "--output=size", dir],
    stdout: "piped",
  }).output();
  return BigInt(new TextDecoder().decode(out.stdout).trim().split("\n")[1].trim());
}

async function write(path: string, bytes: bigint): Promise<void> {
  const f = await Deno.open(path, { create: true, write: true, append: true });
  try {
    const chunk = new Uint8Array(1024 * 1024).fill(7);
    for (let left = Number(bytes); left > 0; left -= chunk.length) {
      await f.write(chunk.subarray(0, Math.min(left, chunk.length)));
    }
    await f.sync();
  } finally {
    f.close();
  }
}

const QUOTA_SKIP = kernelHasXfsQuota()
  ? undefined
  : "skipped: this kernel's XFS has no quota support (CONFIG_XFS_QUOTA unset: no " +
    "/proc/fs/xfs/xqmstat, and mount -o prjquota fails)";
if (QUOTA_SKIP) console.log(`fsquota on a real prjquota XFS: ${QUOTA_SKIP}`);

Deno.test({
  name:
    "fsquota on a real prjquota XFS: limit enforced and shown by statfs, raised on resize, removed on delete",
  ignore: QUOTA_SKIP !== undefined,
}, async () => {
  const fs = await scratchXfs();
  try {
    assert.equal(projectQuotasEnforced(fs.dir), true);
    const a = `${fs.dir}/a`;
    const b = `${fs.dir}/b`;
    await Deno.mkdir(a);
    await Deno.mkdir(b);
    assert.equal(getQuota(a), undefined, "no project before setQuota");

    const idA = setQuota(a, 8n * MiB, 1000n);
    const idB = setQuota(b, 4n * MiB);
    assert.notEqual(idA, idB, "each directory gets its own project");
    assert.equal(setQuota(a, 8n * MiB, 1000n), idA, "setting again keeps the project");
    const q = getQuota(a)!;
    assert.equal(q.bytes, 8n * MiB);
    assert.equal(q.inodes, 1000n);
    assert.equal(await dfSize(a), 8n * MiB, "statfs reports the quota as the size");

    // Files below inherit the project and count against it; beyond the limit writes fail.
    await Deno.mkdir(`${a}/sub`);
    await write(`${a}/sub/f`, 6n * MiB);
    assert.ok(getQuota(a)!.bytesUsed >= 6n * MiB);
    await assert.rejects(write(`${a}/g`, 4n * MiB), /space|quota/i);

    // Resize: the same project, a higher limit, and the write that failed now fits.
    await Deno.remove(`${a}/g`);
    setQuota(a, 16n * MiB, 2000n);
    assert.equal(getQuota(a)!.bytes, 16n * MiB);
    assert.equal(await dfSize(a), 16n * MiB);
    await write(`${a}/g`, 4n * MiB);

    // Delete: quota removed, directory back to project 0; its ID is free again afterwards.
    removeQuota(a);
    assert.equal(getQuota(a), undefined);
    await Deno.remove(a, { recursive: true });
    const c = `${fs.dir}/c`;
    await Deno.mkdir(c);
    assert.equal(setQuota(c, MiB), idA, "a freed project ID is reused");
    removeQuota(b);
    removeQuota(b); // idempotent
  } finally {
    await fs.close();
  }
});

Deno.test("fsquota: a filesystem mounted without prjquota reports quotas as not enforced", async () => {
  const fs = await scratchXfs("noquota");
  try {
    assert.equal(projectQuotasEnforced(fs.dir), false);
  } finally {
    await fs.close();
  }
});

Deno.test("fsquota: without enforced project quotas setQuota fails with the errno and leaves no project behind", async () => {
  const fs = await scratchXfs("noquota");
  try {
    const d = `${fs.dir}/v`;
    await Deno.mkdir(d);
    assert.throws(() => setQuota(d, MiB), /quotactl_fd\(Q_GETNEXTQUOTA 1 .*\): E(NOSYS|SRCH)/);
    assert.equal(getQuota(d), undefined);
    removeQuota(d);
  } finally {
    await fs.close();
  }
});
