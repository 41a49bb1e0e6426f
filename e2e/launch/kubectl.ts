/**
 * Runs the launcher's `<state>/kubectl` wrapper (the cluster's own kubectl through the SOCKS5
 * proxy and the authproxy) for suites and benchmarks.
 */
const dec = new TextDecoder();

/** Runs kubectl once with `args` (and `stdin`); returns stdout, throws with stderr on failure. */
export async function kubectl(wrapper: string, args: string[], stdin?: string): Promise<string> {
  const p = new Deno.Command(wrapper, {
    args: ["--request-timeout=20s", ...args],
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const w = p.stdin.getWriter();
    await w.write(new TextEncoder().encode(stdin));
    await w.close();
  }
  const out = await p.output();
  if (!out.success) {
    throw new Error(`kubectl ${args.join(" ")}: ${dec.decode(out.stderr).trim().slice(0, 400)}`);
  }
  return dec.decode(out.stdout);
}
