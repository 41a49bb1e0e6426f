/**
 * The node's update service is assembled from Platform capabilities: none without slots; with
 * slots, the booted slot comes from the kernel command line, boot entries only with efivars,
 * the kexec loader only with kexec.
 */
import assert from "node:assert/strict";
import { LogTree } from "../../base/logtree/logtree.ts";
import { nodeCmdline } from "../../base/osimage/cmdline.ts";
import { NAMESPACE_CAPABILITIES } from "../platform/namespace.ts";
import { VM_CAPABILITIES } from "../platform/vm.ts";
import { nodeUpdate } from "./node.ts";

const logger = new LogTree().logger("root.update");
const esp = { path: "/nonexistent-esp", mount: () => Promise.resolve(), close: () => {} };
const verity = { rootHash: "aa".repeat(32), salt: "bb".repeat(32), dataBlocks: 1, size: 4096 };

Deno.test("no slots, no update service (namespace nodes keep UpdateNode UNIMPLEMENTED)", () => {
  assert.equal(nodeUpdate({ capabilities: NAMESPACE_CAPABILITIES, esp }, logger), undefined);
});

Deno.test("with slots: boot control with efivars, kexec loader with kexec, running slot from /proc/cmdline", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dir}/efivars`);
    const slots = {
      systemDevice: (s: "a" | "b") => Promise.resolve(`${dir}/slot-${s}`),
      espPartition: () =>
        Promise.resolve({ number: 1, startLba: 2048n, sizeLba: 1024n, guid: crypto.randomUUID() }),
    };
    const u = nodeUpdate(
      { capabilities: VM_CAPABILITIES, esp: { ...esp, path: dir }, slots },
      logger,
      {
        cmdline: () => nodeCmdline("b", verity),
        efivars: `${dir}/efivars`,
      },
    )!;
    assert.ok(u.bootControl && u.kexecLoad);
    // Rollback from B needs an image in A: refused with the reason, nothing set.
    await assert.rejects(() => u.bootControl!.rollback(), /slot A holds no image/);
    await Deno.mkdir(`${dir}/EFI/metropolis`, { recursive: true });
    await Deno.writeTextFile(`${dir}/EFI/metropolis/boot-a.efi`, "uki");
    await u.bootControl!.rollback();
    assert.ok((await Deno.readDir(`${dir}/efivars`)[Symbol.asyncIterator]().next()).value);
    const none = nodeUpdate(
      { capabilities: { ...VM_CAPABILITIES, efivars: false, kexec: false }, esp, slots },
      logger,
    )!;
    assert.equal(none.bootControl, undefined);
    assert.equal(none.kexecLoad, undefined);
  } finally {
    for await (const e of Deno.readDir(`${dir}/efivars`)) {
      const { setImmutable } = await import("../../base/efi/immutable.ts");
      try {
        setImmutable(`${dir}/efivars/${e.name}`, false);
      } catch { /* ignore */ }
    }
    await Deno.remove(dir, { recursive: true });
  }
});
