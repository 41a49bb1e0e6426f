/**
 * Running external build tools (mkfs.erofs, veritysetup, objcopy, sbsign, …) with one-line
 * errors that name the failing command.
 * @module
 */

/** Options for {@link run}. */
export interface RunOptions {
  /** Working directory. */
  cwd?: string;
  /** Extra environment variables. */
  env?: Record<string, string>;
  /** Pass stdout/stderr through to ours instead of capturing them. */
  inherit?: boolean;
  /** Bytes written to the child's stdin. */
  stdin?: Uint8Array;
}

/**
 * Runs `cmd args…` and returns its stdout as text; throws `<cmd> failed (exit N): <stderr tail>`.
 */
export async function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<string> {
  const child = new Deno.Command(cmd, {
    args,
    cwd: opts.cwd,
    env: opts.env,
    stdin: opts.stdin ? "piped" : "null",
    stdout: opts.inherit ? "inherit" : "piped",
    stderr: opts.inherit ? "inherit" : "piped",
  }).spawn();
  if (opts.stdin) {
    const w = child.stdin.getWriter();
    await w.write(opts.stdin);
    await w.close();
  }
  const out = await child.output();
  if (!out.success) {
    const err = opts.inherit ? "" : new TextDecoder().decode(out.stderr).trim().split("\n")
      .slice(-3).join(" | ");
    throw new Error(`${cmd} ${args.join(" ")} failed (exit ${out.code})${err ? ": " + err : ""}`);
  }
  return opts.inherit ? "" : new TextDecoder().decode(out.stdout);
}

/** Whether a path exists (shared with the agent: node/base/sys/exists.ts). */
export { exists } from "../../node/base/sys/exists.ts";
