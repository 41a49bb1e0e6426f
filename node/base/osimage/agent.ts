/**
 * How the agent is started: the one argument list for `/init` (compiled into it by
 * os-image/init/build.ts), the launcher's namespace nodes and the bundle's cache warm-up. The
 * warm-up must use exactly the node's arguments: Deno's module and V8 code caches are only
 * reused by a run with the same flags.
 * @module
 */

/**
 * V8's flags for the agent. V8 sizes its young generation from the machine's memory, up to two
 * 32 MiB semi-spaces, and grows it under a high allocation rate (a curator leader accepting
 * thousands of nodes, or serving GetNodes) without giving it back for a long time: 55–60 MiB of a
 * leader's RSS at any node count. At 16 MiB the leader of 15,000 nodes held 25–45 MiB less for
 * the same CPU per heartbeat (docs/benchmarks.md); 4 MiB had cost GetNodes ≈ 18 % more CPU.
 */
export const AGENT_V8_FLAGS: readonly string[] = Object.freeze(["--max-semi-space-size=16"]);

/** Deno's arguments between the binary and the agent's entry point. */
export const AGENT_DENO_ARGS: readonly string[] = Object.freeze([
  "run",
  "-A",
  // Everything is in the image (DENO_DIR warmed at build time): never fetch, never ask.
  "--cached-only",
  "--no-config",
  "--no-prompt",
  `--v8-flags=${AGENT_V8_FLAGS.join(",")}`,
]);

/** Where the image puts the Deno binary and the agent bundle. */
export const IMAGE_AGENT = Object.freeze({ deno: "/agent/deno", entry: "/agent/agent.js" });

/** The agent's argv: `deno` with {@link AGENT_DENO_ARGS} on `entry`, then the agent's flags. */
export function agentArgv(deno: string, entry: string, agentFlags: string[] = []): string[] {
  return [deno, ...AGENT_DENO_ARGS, entry, ...agentFlags];
}

/**
 * The C initializer list (without the terminating NULL) of `/init`'s built-in agent argv: the
 * image's paths, no agent flags (the agent reads its parameters from the ESP). JSON string
 * literals are valid C string literals for the printable ASCII these arguments are made of.
 */
export function initAgentArgvC(): string {
  const argv = agentArgv(IMAGE_AGENT.deno, IMAGE_AGENT.entry);
  for (const a of argv) {
    if (!/^[\x20-\x7e]+$/.test(a) || a.includes('"') || a.includes("\\")) {
      throw new Error(`agent argument not representable in init.c: ${JSON.stringify(a)}`);
    }
  }
  return argv.map((a) => JSON.stringify(a)).join(", ");
}
