/**
 * Launcher options (testing.md §2.5): the zod schema shared by the CLI and the library, the
 * `--flag value` parser and node-set syntax (`0,3-5`). Bad input raises {@link UsageError}
 * (the CLI exits 2 with its one-line message).
 * @module
 */
import { z } from "zod";

/** A bad flag or flag value; the CLI prints `launch: <message>` and exits 2. */
export class UsageError extends Error {
  /** `message` names the flag and what is wrong with it. */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** The node subnet: always a /24 `a.b.c.0/24`; the bridge is `metro<c>`. */
export interface Subnet {
  /** `a.b.c` (the first three octets). */
  prefix: string;
  /** The third octet, which names the bridge. */
  index: number;
  /** `a.b.c.0/24`. */
  cidr: string;
}

/** Parses `a.b.c.0/24` into a {@link Subnet}. */
export function parseSubnet(s: string): Subnet {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.0\/24$/.exec(s);
  if (!m || m.slice(1).some((o) => Number(o) > 255)) {
    throw new UsageError(`--subnet: expected a /24 like 10.1.0.0/24, got ${JSON.stringify(s)}`);
  }
  const prefix = m.slice(1, 4).map(Number).join(".");
  return { prefix, index: Number(m[3]), cidr: `${prefix}.0/24` };
}

/**
 * Parses a node set like `0,3-5` into sorted unique indices, each < `numNodes`.
 * `flag` names the flag in errors.
 */
export function parseNodeSet(flag: string, s: string, numNodes: number): number[] {
  const out = new Set<number>();
  if (s.trim() === "") return [];
  for (const part of s.split(",")) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) throw new UsageError(`--${flag}: bad node set element ${JSON.stringify(part)}`);
    const start = Number(m[1]);
    const end = m[2] === undefined ? start : Number(m[2]);
    if (end < start) throw new UsageError(`--${flag}: range ${part} ends before it starts`);
    if (end >= numNodes) {
      throw new UsageError(`--${flag}: node ${end} does not exist (--num-nodes ${numNodes})`);
    }
    for (let i = start; i <= end; i++) out.add(i);
  }
  return [...out].sort((a, b) => a - b);
}

const size = (units: string) =>
  z.string().regex(new RegExp(`^[1-9][0-9]*[${units}]$`), `expected a number with suffix ${units}`);

/** Raw flag values (strings as typed) validated into launcher options. */
const FlagsSchema = z.object({
  // No default here: the entry point supplies it (`deno task launch`: namespace, `bazel run
  // //:launch-cluster`: vm), and with --keep-state the kept cluster's record decides.
  mode: z.enum(["namespace", "vm"]).optional(),
  "num-nodes": z.coerce.number().int().min(1).max(253).default(3),
  "cluster-domain": z.string().min(1).max(80).default("cluster.internal"),
  "tpm-mode": z.enum(["required", "best-effort", "disabled"]).default("required"),
  "storage-security": z.enum([
    "permissive",
    "needs-encryption",
    "needs-encryption-and-authentication",
    "needs-insecure",
  ]).optional(),
  "consensus-member": z.string().default(""),
  "kubernetes-controller": z.string().default(""),
  "kubernetes-worker": z.string().default(""),
  // A real node's /init reboots it when the agent dies; namespace nodes do the same unless
  // `--allow-reboot=false` (then a dead node stays down for a post-mortem).
  "allow-reboot": z.boolean().default(true),
  tpm: z.enum(["swtpm", "none"]).default("swtpm"),
  storage: z.enum(["dir", "loop"]).optional(),
  cpu: z.coerce.number().int().min(1).max(64).default(1),
  "threads-per-cpu": z.coerce.number().int().min(1).max(8).default(1),
  ram: size("MG").default("2048M"),
  disk: size("MGT").default("5G"),
  accel: z.enum(["auto", "kvm", "tcg"]).default("auto"),
  boot: z.enum(["uki", "direct"]).default("uki"),
  variant: z.enum(["core", "full"]).default("full"),
  image: z.string().min(1).optional(),
  subnet: z.string().default("10.1.0.0/24"),
  "socks-port": z.coerce.number().int().min(1).max(65535).optional(),
  "state-dir": z.string().min(1).optional(),
  keep: z.boolean().default(false),
  "keep-state": z.boolean().default(false),
  console: z.boolean().default(false),
}).strict();

/**
 * `--storage-security` when not given: VM nodes encrypt and authenticate their data partition,
 * as a real node does (node.md §8); namespace nodes cannot encrypt (the host kernel is not
 * theirs), so their clusters say so instead of asking for what no node can give.
 */
export const DEFAULT_STORAGE_SECURITY = {
  vm: "needs-encryption-and-authentication",
  namespace: "needs-insecure",
} as const;

/** Flag names taking no value (`--keep`, or `--keep=false`). */
const BOOLEAN_FLAGS = new Set(["allow-reboot", "keep", "keep-state", "console"]);
/**
 * Flags that shape a new cluster; with `--keep-state` they come from the kept state directory
 * (kept.ts), so giving one as well is an error.
 */
export const CLUSTER_SHAPE_FLAGS: readonly string[] = [
  "num-nodes",
  "cluster-domain",
  "tpm-mode",
  "storage-security",
  "consensus-member",
  "kubernetes-controller",
  "kubernetes-worker",
  "tpm",
  "storage",
  "subnet",
  "mode",
  "disk",
  "variant",
  "image",
];
/** Every known flag name. */
export const FLAG_NAMES: readonly string[] = Object.keys(FlagsSchema.shape);
/** Other spellings of flags: `--nodes` (the issue's and upstream's word) is `--num-nodes`. */
export const FLAG_ALIASES: Readonly<Record<string, string>> = { nodes: "num-nodes" };

/** Validated launcher options (the library's input). */
export interface LaunchOptions {
  mode: "namespace" | "vm";
  numNodes: number;
  clusterDomain: string;
  tpmMode: "required" | "best-effort" | "disabled";
  storageSecurity:
    | "permissive"
    | "needs-encryption"
    | "needs-encryption-and-authentication"
    | "needs-insecure";
  consensusMember: number[];
  kubernetesController: number[];
  kubernetesWorker: number[];
  allowReboot: boolean;
  tpm: "swtpm" | "none";
  storage: "dir" | "loop";
  cpu: number;
  threadsPerCpu: number;
  ram: string;
  disk: string;
  accel: "auto" | "kvm" | "tcg";
  boot: "uki" | "direct";
  /** VM: the image variant built when no {@link image} is given (`full` carries Kubernetes). */
  variant: "core" | "full";
  /**
   * VM: a built image directory (`deno task image --out=<dir>`, Bazel's //os-image outputs) with
   * `ovmf-vars-test.fd` and either `system.img` + `boot-a.efi` or `bundle.zip`; without it the
   * launcher builds the {@link variant} into `dist/os-image/<variant>`.
   */
  image?: string;
  subnet: Subnet;
  /** Fixed SOCKS port, or undefined for 1080-or-next-free. */
  socksPort?: number;
  stateDir: string;
  keep: boolean;
  /**
   * Start the nodes of the kept cluster in `stateDir` from their sealed configurations instead of
   * bootstrapping a new one (the cluster's shape comes from its `launch.json`, kept.ts).
   */
  keepState: boolean;
  console: boolean;
  /**
   * Library only (no flag): the argv run under `/init` instead of the agent, e.g. a stand-in
   * process in topology tests. `{state}` and `{i}` are replaced per node.
   */
  agentCommand?: string[];
  /**
   * Library only: the launcher itself assigns each node's address and default route in its
   * namespace. Default: only for an `agentCommand` stand-in (it has no network service); the
   * agent gets its reserved address from the switch's DHCP server.
   */
  staticAddresses?: boolean;
  /**
   * Library only, VM: nodes get empty sparse disks of {@link disk} instead of copies of the
   * image's disk, and no parameters: they are installed from installer media
   * (`Cluster.startNodeFrom`), as machines are (image.md §10–§11).
   */
  blankDisks?: boolean;
  /**
   * Library only, namespace: every node's agent runs on its own copy of `deno`
   * (`NamespaceNodeOptions.privateRuntime`), as a VM's does; the rss bench measures so.
   */
  privateRuntime?: boolean;
  /** Library only: print `launch: …` progress lines (default true). */
  progress?: boolean;
  /**
   * Library only: also merge the `launch-cluster` kubeconfig context into `$KUBECONFIG` /
   * `~/.kube/config` (the CLI does; test suites use `<state>/kubectl` and leave the user's alone).
   */
  userKubeconfig?: boolean;
}

/**
 * Defaults an entry point sets without the user giving the flag: `bazel run //:launch-cluster`
 * launches VMs (like upstream's), `deno task launch` namespace nodes. Not counted as given, so
 * `--keep-state` still takes the mode from the kept cluster.
 */
export interface EntryDefaults {
  mode?: LaunchOptions["mode"];
}

/**
 * Default state directory: `${XDG_RUNTIME_DIR:-/tmp}/metropolis-launch-<pid>`, or with `.2`, `.3`,
 * … appended when that exists: a process that launches several clusters (a test run) must not
 * start one in the directory an earlier one kept after a failure (its disks and node state).
 */
export function defaultStateDir(): string {
  const base = `${Deno.env.get("XDG_RUNTIME_DIR") || "/tmp"}/metropolis-launch-${Deno.pid}`;
  for (let n = 1;; n++) {
    const dir = n === 1 ? base : `${base}.${n}`;
    try {
      Deno.statSync(dir);
    } catch {
      return dir;
    }
  }
}

/**
 * Validates raw flag values (flag name → string, or boolean for switches) into
 * {@link LaunchOptions}. Also the library's way to get defaults: `resolveOptions({})`.
 */
export function resolveOptions(
  raw: Record<string, string | number | boolean>,
  defaults: EntryDefaults = {},
): LaunchOptions {
  const r = FlagsSchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0];
    if (issue.code === "unrecognized_keys") {
      throw new UsageError(`unknown flag --${issue.keys[0]}`);
    }
    const flag = String(issue.path[0] ?? "?");
    const got = raw[flag];
    throw new UsageError(`--${flag}: ${issue.message} (got ${JSON.stringify(got)})`);
  }
  const f = r.data;
  if (f["keep-state"]) {
    if (f["state-dir"] === undefined) {
      throw new UsageError("--keep-state needs --state-dir <dir> (the kept state directory)");
    }
    const shaped = CLUSTER_SHAPE_FLAGS.find((k) => raw[k] !== undefined);
    if (shaped) {
      throw new UsageError(
        `--${shaped}: not with --keep-state (the kept cluster's settings apply)`,
      );
    }
  }
  const mode = f.mode ?? defaults.mode ?? "namespace";
  if (mode === "vm" && f.boot === "direct") {
    throw new UsageError("--boot direct: not supported for launcher clusters yet (use --boot uki)");
  }
  const n = f["num-nodes"];
  const workers = parseNodeSet("kubernetes-worker", f["kubernetes-worker"], n);
  if (f.tpm === "none" && f["tpm-mode"] === "required") {
    throw new UsageError("--tpm none cannot satisfy --tpm-mode required (use --tpm-mode disabled)");
  }
  if (
    !/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/.test(f["cluster-domain"])
  ) {
    throw new UsageError(`--cluster-domain: not a valid domain: ${f["cluster-domain"]}`);
  }
  return {
    mode,
    numNodes: n,
    clusterDomain: f["cluster-domain"],
    tpmMode: f["tpm-mode"],
    storageSecurity: f["storage-security"] ?? DEFAULT_STORAGE_SECURITY[mode],
    consensusMember: parseNodeSet("consensus-member", f["consensus-member"], n),
    kubernetesController: parseNodeSet("kubernetes-controller", f["kubernetes-controller"], n),
    kubernetesWorker: workers,
    allowReboot: f["allow-reboot"],
    tpm: f.tpm,
    // XFS on a loop device by default, so any node can take the KubernetesWorker role later
    // (containerd's snapshots, kubelet state and volume quotas live on /data).
    storage: f.storage ?? "loop",
    cpu: f.cpu,
    threadsPerCpu: f["threads-per-cpu"],
    ram: f.ram,
    disk: f.disk,
    accel: f.accel,
    boot: f.boot,
    variant: f.variant,
    image: f.image,
    subnet: parseSubnet(f.subnet),
    socksPort: f["socks-port"],
    stateDir: f["state-dir"] ?? defaultStateDir(),
    keep: f.keep,
    keepState: f["keep-state"],
    console: f.console,
  };
}

/**
 * Parses CLI arguments (`--flag value`, `--flag=value`, `--switch`, `--switch=false`) into
 * {@link LaunchOptions}. Throws {@link UsageError} on unknown flags, missing values or positional
 * arguments.
 */
export function parseFlags(args: string[], defaults: EntryDefaults = {}): LaunchOptions {
  const raw: Record<string, string | boolean> = {};
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const m = /^--([a-z][a-z0-9-]*)(?:=(.*))?$/s.exec(a);
    if (!m) throw new UsageError(`unexpected argument ${JSON.stringify(a)} (flags are --name)`);
    const [, given, inline] = m;
    const name = FLAG_ALIASES[given] ?? given;
    if (!FLAG_NAMES.includes(name)) throw new UsageError(`unknown flag --${given}`);
    if (name in raw) throw new UsageError(`--${name} given twice`);
    if (BOOLEAN_FLAGS.has(name)) {
      if (inline === undefined || inline === "true") raw[name] = true;
      else if (inline === "false") raw[name] = false;
      else throw new UsageError(`--${name}: expected true or false, got ${JSON.stringify(inline)}`);
      continue;
    }
    if (inline !== undefined) {
      raw[name] = inline;
    } else {
      if (i + 1 >= args.length || args[i + 1].startsWith("--")) {
        throw new UsageError(`--${name} needs a value`);
      }
      raw[name] = args[++i];
    }
  }
  return resolveOptions(raw, defaults);
}

/** `2048M`, `2G`, `1T` (a validated `--ram`/`--disk` value) in MiB. */
export function sizeMiB(s: string): number {
  const m = /^([1-9][0-9]*)([MGT])$/.exec(s);
  if (!m) throw new UsageError(`not a size with suffix M, G or T: ${JSON.stringify(s)}`);
  return Number(m[1]) * { M: 1, G: 1024, T: 1024 * 1024 }[m[2] as "M" | "G" | "T"];
}
