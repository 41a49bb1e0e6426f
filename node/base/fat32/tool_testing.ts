/**
 * Tests' way to run a host disk tool (mtools, sgdisk, fsck.fat, mkfs.fat) on an image they wrote
 * or will read: the independent implementation our FAT32 and GPT code is checked against.
 * @module
 */

/** What the tool printed. */
export interface ToolOutput {
  stdout: Uint8Array;
  /** stdout as text. */
  text: string;
  stderr: string;
}

/** Runs `cmd args` (mtools without its drive-geometry check); throws with stderr on failure. */
export async function runTool(cmd: string, args: string[]): Promise<ToolOutput> {
  const out = await new Deno.Command(cmd, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { MTOOLS_SKIP_CHECK: "1" },
  }).output();
  const dec = new TextDecoder();
  const text = dec.decode(out.stdout);
  const stderr = dec.decode(out.stderr);
  if (!out.success) throw new Error(`${cmd} ${args.join(" ")}: ${stderr || text}`);
  return { stdout: out.stdout, text, stderr };
}
