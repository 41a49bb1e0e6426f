import assert from "node:assert/strict";
import { kernelHasXfsQuota } from "../../base/fsquota/fsquota.ts";
import { getQuota } from "../../base/fsquota/fsquota.ts";
import { scratchXfs } from "../../base/fsquota/testing.ts";
import { createVolume, deleteVolume, resizeVolume } from "./volumes.ts";

const MiB = 1n << 20n;

Deno.test("volumes without quotas: created empty, retried creation is fine, data is never handed out twice, delete is idempotent", async () => {
  const dir = await Deno.makeTempDir();
  const v = { dir: `${dir}/volumes`, quotas: false };
  try {
    await createVolume(v, "pvc-1", 64n * MiB);
    await createVolume(v, "pvc-1", 64n * MiB);
    await Deno.writeTextFile(`${v.dir}/pvc-1/f`, "data");
    await assert.rejects(createVolume(v, "pvc-1", 64n * MiB), /already holds data/);
    resizeVolume(v, "pvc-1", 128n * MiB);
    await assert.rejects(createVolume(v, "../x", MiB), /invalid volume id/);
    await deleteVolume(v, "pvc-1");
    await assert.rejects(Deno.stat(`${v.dir}/pvc-1`), Deno.errors.NotFound);
    await deleteVolume(v, "pvc-1");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const SKIP = kernelHasXfsQuota()
  ? undefined
  : "skipped: this kernel's XFS has no quota support (CONFIG_XFS_QUOTA unset)";
if (SKIP) console.log(`volumes with quotas: ${SKIP}`);

Deno.test({
  name: "volumes with quotas: the quota follows create, resize and delete",
  ignore: SKIP !== undefined,
}, async () => {
  const fs = await scratchXfs();
  const v = { dir: `${fs.dir}/volumes`, quotas: true };
  try {
    await createVolume(v, "pvc-1", 64n * MiB);
    assert.equal(getQuota(`${v.dir}/pvc-1`)!.bytes, 64n * MiB);
    resizeVolume(v, "pvc-1", 128n * MiB);
    assert.equal(getQuota(`${v.dir}/pvc-1`)!.bytes, 128n * MiB);
    await deleteVolume(v, "pvc-1");
    await assert.rejects(Deno.stat(`${v.dir}/pvc-1`), Deno.errors.NotFound);
  } finally {
    await fs.close();
  }
});
