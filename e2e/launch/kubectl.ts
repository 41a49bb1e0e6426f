/**
 * Runs the launcher's `<state>/kubectl` wrapper (the cluster's own kubectl through the SOCKS5
 * proxy and the authproxy) for suites and benchmarks.
 */
import { commandOutput } from "../../node/base/sys/command.ts";

const dec = new TextDecoder();

/** Runs kubectl once with `args` (and `stdin`); returns stdout, throws with stderr on failure. */
export async function kubectl(wrapper: string, args: string[], stdin?: string): Promise<string> {
  const out = await commandOutput(wrapper, ["--request-timeout=20s", ...args], { stdin });
  if (!out.success) {
    throw new Error(`kubectl ${args.join(" ")}: ${dec.decode(out.stderr).trim().slice(0, 400)}`);
  }
  return dec.decode(out.stdout);
}
