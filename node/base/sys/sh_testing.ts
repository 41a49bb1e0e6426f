/**
 * Tests' way to run a host command (`ip netns …`, a runner inside a namespace): stdout as text;
 * throws with the command and its stderr on failure.
 * @module
 */

/** Runs `cmd args`; returns stdout, throws with stderr on a non-zero exit. */
export async function sh(cmd: string, ...args: string[]): Promise<string> {
  const o = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  const dec = new TextDecoder();
  if (!o.success) throw new Error(`${cmd} ${args.join(" ")}: ${dec.decode(o.stderr)}`);
  return dec.decode(o.stdout);
}
