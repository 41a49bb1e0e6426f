/**
 * Writes a launcher node disk image (image.md §7): GPT via `sgdisk` with the partition names
 * and type GUIDs of {@link nodePartitions}, a FAT32 ESP (`mkfs.vfat` + mtools) holding the UKI
 * at the default boot path and the node parameters, and `system.img` in slot A.
 * @module
 */
import { run } from "../lib/exec.ts";
import { sha256Hex } from "../lib/hash.ts";
import { ESP_LABEL, nodePartitions } from "./layout.ts";

/** Inputs of {@link mkdisk}. */
export interface DiskInput {
  /** Signed UKI of slot A: becomes `EFI/BOOT/BOOTX64.EFI` and `EFI/metropolis/boot-a.efi`. */
  ukiA: string;
  /** Slot A system image (erofs + verity). */
  system: string;
  /** Optional `metropolis/parameters.pb` (NodeParameters). */
  parameters?: string;
  /** Disk size in MiB (default 5120). */
  sizeMiB?: number;
  /** Seed for the deterministic disk/partition GUIDs (default: the disk path). */
  seed?: string;
}

const MiB = 1024 * 1024;

function guidFrom(seed: string): string {
  const h = sha256Hex(seed);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${
    h.slice(20, 32)
  }`;
}

/** Copies `src` into `dst` at byte `offset` without truncating `dst`. */
async function writeAt(dst: string, src: string, offset: number): Promise<void> {
  const out = await Deno.open(dst, { write: true });
  try {
    await out.seek(offset, Deno.SeekMode.Start);
    const inp = await Deno.open(src);
    for await (const chunk of inp.readable) {
      let o = 0;
      while (o < chunk.length) o += await out.write(chunk.subarray(o));
    }
  } finally {
    out.close();
  }
}

/** Writes the disk image `out`; `work` is a scratch directory. */
export async function mkdisk(input: DiskInput, out: string, work: string): Promise<void> {
  const size = input.sizeMiB ?? 5120;
  const parts = nodePartitions("launcher");
  const fixed = parts.reduce((s, p) => s + p.sizeMiB, 0);
  if (size < fixed + 128 + 2) {
    throw new Error(`mkdisk: disk of ${size} MiB is too small (need ≥ ${fixed + 130} MiB)`);
  }
  const sys = (await Deno.stat(input.system)).size;
  if (sys > parts[1].sizeMiB * MiB) {
    throw new Error(`mkdisk: system image (${sys} bytes) exceeds slot A (${parts[1].sizeMiB} MiB)`);
  }
  await Deno.mkdir(work, { recursive: true });
  const seed = input.seed ?? out;
  await Deno.remove(out).catch(() => {});
  const f = await Deno.open(out, { write: true, create: true });
  await f.truncate(size * MiB);
  f.close();

  const args = ["--clear", "--set-alignment=2048", `--disk-guid=${guidFrom(seed + ":disk")}`];
  parts.forEach((p, i) => {
    const n = i + 1;
    const end = p.sizeMiB ? `+${p.sizeMiB}M` : "0";
    args.push(
      `--new=${n}:0:${end}`,
      `--typecode=${n}:${p.type}`,
      `--change-name=${n}:${p.name}`,
      `--partition-guid=${n}:${guidFrom(`${seed}:${p.name}`)}`,
    );
  });
  await run("sgdisk", [...args, out]);

  // Partition start offsets as sgdisk placed them (first at 1 MiB, then back to back).
  const info = await run("sgdisk", ["--print", out]);
  const starts: number[] = [];
  for (const line of info.split("\n")) {
    const m = /^\s+(\d+)\s+(\d+)\s+(\d+)\s/.exec(line);
    if (m) starts[Number(m[1])] = Number(m[2]) * 512;
  }
  if (starts.length < 5) throw new Error(`mkdisk: could not read partition table: ${info}`);

  // ESP: FAT32 with the UKI at the firmware's default path.
  const esp = `${work}/esp.img`;
  await Deno.remove(esp).catch(() => {});
  const volId = sha256Hex(seed + ":esp").slice(0, 8);
  await run("mkfs.vfat", [
    "-F",
    "32",
    "-S",
    "512",
    "-s",
    "1",
    "-n",
    ESP_LABEL,
    "-i",
    volId,
    "-C",
    esp,
    String(parts[0].sizeMiB * 1024),
  ]);
  const m = (args: string[]) =>
    run("mmd", ["-i", esp, ...args], { env: { MTOOLS_SKIP_CHECK: "1" } });
  const c = (src: string, dst: string) =>
    run("mcopy", ["-i", esp, src, dst], { env: { MTOOLS_SKIP_CHECK: "1" } });
  await m(["::EFI", "::EFI/BOOT", "::EFI/metropolis", "::metropolis"]);
  await c(input.ukiA, "::EFI/BOOT/BOOTX64.EFI");
  await c(input.ukiA, "::EFI/metropolis/boot-a.efi");
  if (input.parameters) await c(input.parameters, "::metropolis/parameters.pb");
  await writeAt(out, esp, starts[1]);
  await writeAt(out, input.system, starts[2]);
}

if (import.meta.main) {
  const [ukiA, system, out, parameters] = Deno.args;
  if (!ukiA || !system || !out) {
    console.error("usage: mkdisk.ts <boot-a.efi> <system.img> <disk.img> [parameters.pb]");
    Deno.exit(2);
  }
  await mkdisk({ ukiA, system, parameters }, out, `${out}.work`);
  console.log(out);
}
