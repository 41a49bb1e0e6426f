/**
 * Running a host program to completion with optional text on its stdin — the one place that
 * spawns, writes stdin, closes it and collects the output (tools' and tests' callers).
 * @module
 */

/** Options of {@link commandOutput}. */
export interface CommandInput {
  /** Text written to stdin, then closed; without it stdin is /dev/null. */
  stdin?: string;
  /** `piped` (default) collects stderr into the result; `inherit` passes it through. */
  stderr?: "piped" | "inherit";
  env?: Record<string, string>;
}

/** Runs `cmd args` to its exit; stdout (and stderr unless inherited) are collected. */
export async function commandOutput(
  cmd: string,
  args: string[],
  o: CommandInput = {},
): Promise<Deno.CommandOutput> {
  const p = new Deno.Command(cmd, {
    args,
    stdin: o.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: o.stderr ?? "piped",
    env: o.env,
  }).spawn();
  if (o.stdin !== undefined) {
    const w = p.stdin.getWriter();
    await w.write(new TextEncoder().encode(o.stdin));
    await w.close();
  }
  return await p.output();
}
