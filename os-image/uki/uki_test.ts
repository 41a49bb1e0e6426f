import assert from "node:assert/strict";
import { nodeCmdline, osRelease } from "./cmdline.ts";
import { parseSections } from "./mkuki.ts";
import { peChecksum, setPeTimestamp } from "./pe.ts";
import { installerEntries, mkinitramfs } from "./initramfs.ts";
import type { StagedEntry } from "../system/stage.ts";

const v = { rootHash: "ab".repeat(32), salt: "cd".repeat(32), dataBlocks: 100, size: 0 };

Deno.test("node command line matches image.md §6 for slot B", () => {
  const dev = "PARTLABEL=METROPOLIS-SYSTEM-B";
  assert.equal(
    nodeCmdline("b", v),
    "console=ttyS0,115200 console=tty0 quiet rootfstype=erofs ro root=/dev/dm-0 init=/init " +
      `dm-mod.waitfor=${dev} dm-mod.create="rootfs,,,ro,0 800 verity 1 ${dev} ${dev} 4096 4096 ` +
      `100 100 sha256 ${v.rootHash} ${v.salt}" panic=10 kernel.unknown_nmi_panic=1 no_timer_check`,
  );
});

Deno.test("osRelease carries version and commit", () => {
  const t = osRelease("1.2.3", "abc");
  assert.match(t, /^VERSION_ID=1\.2\.3$/m);
  assert.match(t, /^BUILD_ID=abc$/m);
  assert.match(t, /^PRETTY_NAME="Metropolis Node 1\.2\.3"$/m);
});

Deno.test("parseSections reads objdump -h of the systemd stub", async () => {
  const out = await new Deno.Command("objdump", {
    args: ["-h", "/usr/lib/systemd/boot/efi/linuxx64.efi.stub"],
  }).output();
  const s = parseSections(new TextDecoder().decode(out.stdout));
  const magic = s.find((x) => x.name === ".sdmagic");
  assert.ok(magic, "stub has .sdmagic");
  assert.ok(s.some((x) => x.name === ".text"));
});

Deno.test("setPeTimestamp makes objcopy output reproducible with a valid checksum", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mkimg-pe-" });
  try {
    await Deno.writeTextFile(`${dir}/osrel`, "NAME=x\n");
    const raw = `${dir}/raw.efi`;
    const out = await new Deno.Command("objcopy", {
      args: [
        "--add-section",
        `.osrel=${dir}/osrel`,
        "--change-section-vma",
        ".osrel=0x1a000",
        "/usr/lib/systemd/boot/efi/linuxx64.efi.stub",
        raw,
      ],
    }).output();
    assert.ok(out.success);
    const b = await Deno.readFile(raw);
    const v = new DataView(b.buffer);
    const pe = v.getUint32(0x3c, true);
    // Our checksum equals the one objcopy computed itself.
    assert.equal(peChecksum(b, pe + 88), v.getUint32(pe + 88, true));
    await setPeTimestamp(raw, 1234);
    const p = await Deno.readFile(raw);
    const pv = new DataView(p.buffer);
    assert.equal(pv.getUint32(pe + 8, true), 1234);
    assert.equal(pv.getUint32(pe + 88, true), peChecksum(p, pe + 88));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("mkinitramfs writes a reproducible lz4 newc cpio that cpio can list", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mkimg-initrd-" });
  try {
    await Deno.mkdir(`${dir}/root/agent`, { recursive: true });
    await Deno.writeTextFile(`${dir}/root/init`, "#init\n");
    await Deno.writeTextFile(`${dir}/root/agent/agent.js`, "x");
    await Deno.symlink("/ephemeral/hosts", `${dir}/root/hosts`);
    const entries: StagedEntry[] = [
      { path: "/init", kind: "file", mode: 0o755, sha256: "", source: "" },
      { path: "/agent", kind: "dir", mode: 0o755, sha256: "", source: "" },
      { path: "/agent/agent.js", kind: "file", mode: 0o644, sha256: "", source: "" },
      { path: "/hosts", kind: "symlink", mode: 0o777, sha256: "", source: "" },
      { path: "/bin", kind: "dir", mode: 0o755, sha256: "", source: "" },
    ];
    const kept = installerEntries(entries);
    assert.deepEqual(kept.map((e) => e.path), ["/init", "/agent", "/agent/agent.js"]);
    await mkinitramfs(`${dir}/root`, entries, `${dir}/a.lz4`, 7);
    await mkinitramfs(`${dir}/root`, [...entries].reverse(), `${dir}/b.lz4`, 7);
    assert.deepEqual(await Deno.readFile(`${dir}/a.lz4`), await Deno.readFile(`${dir}/b.lz4`));
    const list = await new Deno.Command("bash", {
      args: ["-c", `lz4 -dc ${dir}/a.lz4 | cpio -itv --quiet`],
    }).output();
    const text = new TextDecoder().decode(list.stdout);
    assert.match(text, /^-rwxr-xr-x .* init$/m);
    assert.match(text, /^crw------- .* dev\/console$/m);
    assert.match(text, /^lrwxrwxrwx .* hosts -> \/ephemeral\/hosts$/m);
    assert.match(text, /^drwxr-xr-x .* agent$/m);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
