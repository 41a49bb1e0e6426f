/**
 * PCR 11 prediction for a UKI with systemd-measure (image.md §8): the value systemd-stub 252
 * extends before any phase measurement.
 * @module
 */
import { exists, run } from "../lib/exec.ts";

const MEASURE = "/lib/systemd/systemd-measure";

/** Hex SHA-256 PCR 11 value, or `""` when systemd-measure is not installed. */
export async function predictPcr11(
  files: { linux: string; osrel: string; cmdline: string; initrd?: string },
): Promise<string> {
  if (!(await exists(MEASURE))) return "";
  const args = [
    "calculate",
    `--linux=${files.linux}`,
    `--osrel=${files.osrel}`,
    `--cmdline=${files.cmdline}`,
    "--bank=sha256",
    "--phase=",
  ];
  if (files.initrd) args.push(`--initrd=${files.initrd}`);
  const out = await run(MEASURE, args);
  const m = /11:sha256=([0-9a-f]{64})/.exec(out);
  if (!m) throw new Error(`systemd-measure: no PCR 11 value in: ${out.trim()}`);
  return m[1];
}
