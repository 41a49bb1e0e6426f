/**
 * The agent's command-line flags (node.md §3): `--platform=vm|namespace` (default vm),
 * `--state=<dir>` (namespace only, required there), `--tpm-socket=<path>` (namespace only),
 * `--payloads=<dir>` (namespace only: host directory with `kubernetes/` and `containerd/`, the
 * Kubernetes payloads a VM image carries at `/kubernetes` and `/containerd`).
 * Any problem is one line naming the flag. Checked by hand, not with zod: the flags are parsed by
 * every agent at start, and zod's module alone is ≈ 2 MB of V8 heap that a node without roles
 * would otherwise keep for nothing else (testing.md §5 `rss`).
 */

/** Platform the agent runs on. */
export type PlatformKind = "vm" | "namespace";

/** Parsed and validated agent flags. */
export interface AgentFlags {
  /** `vm` (VM / bare metal) or `namespace` (namespace node). */
  platform: PlatformKind;
  /** Per-node directory as seen inside the mount namespace (namespace nodes). */
  state?: string;
  /** swtpm unix socket (namespace nodes), absent: no TPM. */
  tpmSocket?: string;
  /** Host directory of the Kubernetes payloads (namespace nodes), absent: none. */
  payloads?: string;
}

/** A bad command line; the message is one line naming the flag. */
export class FlagError extends Error {
  /** Builds the error. */
  constructor(message: string) {
    super(message);
    this.name = "FlagError";
  }
}

/** The flags naming paths, namespace nodes only, in the order their problems are reported. */
const PATH_FLAGS = ["state", "tpm-socket", "payloads"] as const;
/** The flags there are, in the order their problems are reported. */
const KNOWN: readonly string[] = ["platform", ...PATH_FLAGS];

/** The problem with path flag `--flag`'s value `p`, if any. */
function absPathProblem(flag: string, p: string | undefined): string | undefined {
  if (p === undefined || (p.startsWith("/") && !p.includes("\0") && p.length < 4096)) return;
  return `--${flag} must be an absolute path`;
}

/**
 * The first problem of `raw`: each known flag in {@link KNOWN} order, then unknown flags, then
 * the combinations (the order the zod schema reported them in).
 */
function firstProblem(raw: Record<string, string>): string | undefined {
  const platform = raw.platform ?? "vm";
  if (platform !== "vm" && platform !== "namespace") {
    return `--platform must be vm or namespace, got ${JSON.stringify(raw.platform)}`;
  }
  for (const f of PATH_FLAGS) {
    const problem = absPathProblem(f, raw[f]);
    if (problem) return problem;
  }
  const unknown = Object.keys(raw).find((k) => !KNOWN.includes(k));
  if (unknown !== undefined) {
    return `unknown flag --${unknown} (known: ${KNOWN.map((f) => `--${f}`).join(", ")})`;
  }
  if (platform === "namespace" && raw.state === undefined) {
    return "--state=<dir> is required with --platform=namespace";
  }
  if (platform === "vm" && PATH_FLAGS.some((f) => raw[f] !== undefined)) {
    return "--state, --tpm-socket and --payloads are only valid with --platform=namespace";
  }
}

/** Parses `--name=value` arguments; throws {@link FlagError} on anything else. */
export function parseAgentFlags(args: readonly string[]): AgentFlags {
  const raw: Record<string, string> = {};
  for (const a of args) {
    const m = /^--([a-z-]+)=(.*)$/s.exec(a);
    if (!m) throw new FlagError(`invalid argument ${JSON.stringify(a)}: expected --name=value`);
    if (m[1] in raw) throw new FlagError(`flag --${m[1]} given twice`);
    raw[m[1]] = m[2];
  }
  const problem = firstProblem(raw);
  if (problem !== undefined) throw new FlagError(problem);
  return {
    platform: (raw.platform ?? "vm") as PlatformKind,
    ...(raw.state !== undefined ? { state: raw.state } : {}),
    ...(raw["tpm-socket"] !== undefined ? { tpmSocket: raw["tpm-socket"] } : {}),
    ...(raw.payloads !== undefined ? { payloads: raw.payloads } : {}),
  };
}
