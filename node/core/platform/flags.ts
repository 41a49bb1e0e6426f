/**
 * The agent's command-line flags (node.md §3): `--platform=vm|namespace` (default vm),
 * `--state=<dir>` (namespace only, required there), `--tpm-socket=<path>` (namespace only),
 * `--payloads=<dir>` (namespace only: host directory with `kubernetes/` and `containerd/`, the
 * Kubernetes payloads a VM image carries at `/kubernetes` and `/containerd`).
 * Validated with zod; any problem is one line naming the flag.
 */
import { z } from "zod";

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

const absPath = (flag: string) =>
  z.string().refine((p) => p.startsWith("/") && !p.includes("\0") && p.length < 4096, {
    message: `${flag} must be an absolute path`,
  });

const Schema = z.object({
  platform: z.enum(["vm", "namespace"], {
    error: (iss) => `--platform must be vm or namespace, got ${JSON.stringify(iss.input)}`,
  }).default("vm"),
  state: absPath("--state").optional(),
  "tpm-socket": absPath("--tpm-socket").optional(),
  payloads: absPath("--payloads").optional(),
}).strict().superRefine((f, ctx) => {
  if (f.platform === "namespace" && f.state === undefined) {
    ctx.addIssue({
      code: "custom",
      message: "--state=<dir> is required with --platform=namespace",
    });
  }
  if (
    f.platform === "vm" &&
    (f.state !== undefined || f["tpm-socket"] !== undefined || f.payloads !== undefined)
  ) {
    ctx.addIssue({
      code: "custom",
      message: "--state, --tpm-socket and --payloads are only valid with --platform=namespace",
    });
  }
});

/** Parses `--name=value` arguments; throws {@link FlagError} on anything else. */
export function parseAgentFlags(args: readonly string[]): AgentFlags {
  const raw: Record<string, string> = {};
  for (const a of args) {
    const m = /^--([a-z-]+)=(.*)$/s.exec(a);
    if (!m) throw new FlagError(`invalid argument ${JSON.stringify(a)}: expected --name=value`);
    if (m[1] in raw) throw new FlagError(`flag --${m[1]} given twice`);
    raw[m[1]] = m[2];
  }
  const r = Schema.safeParse(raw);
  if (!r.success) {
    const iss = r.error.issues[0];
    if (iss.code === "unrecognized_keys") {
      throw new FlagError(
        `unknown flag --${iss.keys[0]} (known: --platform, --state, --tpm-socket, --payloads)`,
      );
    }
    throw new FlagError(iss.message);
  }
  return {
    platform: r.data.platform,
    ...(r.data.state !== undefined ? { state: r.data.state } : {}),
    ...(r.data["tpm-socket"] !== undefined ? { tpmSocket: r.data["tpm-socket"] } : {}),
    ...(r.data.payloads !== undefined ? { payloads: r.data.payloads } : {}),
  };
}
