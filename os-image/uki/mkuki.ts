/**
 * Unified kernel images without ukify (image.md §6): `objcopy` adds `.osrel`, `.cmdline` and
 * `.linux` (and `.initrd`) to systemd-boot's stub, each at a 4 KiB-aligned VMA after the
 * previous section.
 * @module
 */
import { run } from "../lib/exec.ts";
import { setPeTimestamp } from "./pe.ts";

/** systemd-boot-efi 252's x86-64 stub. */
export const STUB = "/usr/lib/systemd/boot/efi/linuxx64.efi.stub";

/** Inputs of one UKI. */
export interface UkiInput {
  /** os-release text. */
  osrel: string;
  /** Kernel command line (one line). */
  cmdline: string;
  /** Path of the (signed) bzImage. */
  linux: string;
  /** Optional initramfs path. */
  initrd?: string;
  /** COFF timestamp (SOURCE_DATE_EPOCH); default 0. */
  epoch?: number;
}

/** Parses `objdump -h` output into sections with VMA and size. */
export function parseSections(objdump: string): { name: string; vma: bigint; size: bigint }[] {
  const out = [];
  for (const line of objdump.split("\n")) {
    const m = /^\s*\d+\s+(\S+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s+[0-9a-f]+\s+[0-9a-f]+/.exec(line);
    if (m) out.push({ name: m[1], size: BigInt("0x" + m[2]), vma: BigInt("0x" + m[3]) });
  }
  return out;
}

const align = (v: bigint) => (v + 0xfffn) & ~0xfffn;

/** Builds the unsigned UKI `out` in the scratch directory `work`. */
export async function mkuki(input: UkiInput, out: string, work: string): Promise<void> {
  if (/[\n\0]/.test(input.cmdline.trim())) throw new Error("mkuki: command line must be one line");
  await Deno.mkdir(work, { recursive: true });
  const sections = parseSections(await run("objdump", ["-h", STUB]));
  if (!sections.length) throw new Error(`mkuki: no sections found in ${STUB}`);
  let next = align(sections.reduce((m, s) => (s.vma + s.size > m ? s.vma + s.size : m), 0n));
  await Deno.writeTextFile(`${work}/osrel`, input.osrel);
  // The stub passes the section verbatim; a trailing newline would end up in /proc/cmdline.
  await Deno.writeTextFile(`${work}/cmdline`, input.cmdline.trim());
  const parts: [string, string][] = [
    [".osrel", `${work}/osrel`],
    [".cmdline", `${work}/cmdline`],
    [".linux", input.linux],
  ];
  if (input.initrd) parts.push([".initrd", input.initrd]);
  const args: string[] = [];
  for (const [name, file] of parts) {
    const size = BigInt((await Deno.stat(file)).size);
    args.push(
      "--add-section",
      `${name}=${file}`,
      "--change-section-vma",
      `${name}=0x${next.toString(16)}`,
    );
    next = align(next + size);
  }
  await Deno.remove(out).catch(() => {});
  await run("objcopy", [...args, STUB, out]);
  // objcopy stamps the wall-clock time into the COFF header: make it reproducible.
  await setPeTimestamp(out, input.epoch ?? 0);
}
