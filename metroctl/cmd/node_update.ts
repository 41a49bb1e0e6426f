/**
 * `node update <ids…|all>` (metroctl.md §4.8): sends `UpdateNode` to each node's NodeManagement
 * (at most `--max-unavailable` in flight), then waits until the node is HEALTHY again.
 */
import {
  ActivationMode,
  Node_Health,
  NodeManagement,
} from "../../proto/gen/metropolis/proto/api/management_pb.ts";
import { z } from "zod";
import type { Command } from "../core/args.ts";
import type { Context } from "../core/context.ts";
import { type Cluster, connectCluster } from "../core/dial.ts";
import { CliError, describeError, UsageError } from "../core/errors.ts";
import { formatVersion, getNodes, narrow, nodeAddress } from "../core/nodes.ts";
import { NODE_MANAGEMENT_PORT } from "./node_local.ts";

/** A parsed `--image-ref`. */
export interface ImageRef {
  scheme: string;
  host: string;
  repository: string;
  tag: string;
  digest: string;
}

const REPO_RE =
  /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;
const TAG_RE = /^[\w][\w.-]{0,127}$/;
const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;

/** Parses `[http[s]://]host[:port]/repository[:tag]@digest` (scheme default https). */
export function parseImageRef(s: string): ImageRef {
  let rest = s;
  let scheme = "https";
  const m = rest.match(/^(https?):\/\//);
  if (m) {
    scheme = m[1];
    rest = rest.slice(m[0].length);
  }
  const at = rest.lastIndexOf("@");
  if (at < 0) throw new Error("missing digest");
  const digest = rest.slice(at + 1);
  rest = rest.slice(0, at);
  if (!DIGEST_RE.test(digest)) throw new Error(`invalid digest "${digest}": want sha256:<64 hex>`);
  const slash = rest.indexOf("/");
  const host = slash < 0 ? "" : rest.slice(0, slash);
  if (!host) throw new Error("missing host");
  let repository = rest.slice(slash + 1);
  let tag = "";
  const colon = repository.lastIndexOf(":");
  if (colon >= 0) {
    tag = repository.slice(colon + 1);
    repository = repository.slice(0, colon);
    if (!TAG_RE.test(tag)) throw new Error(`invalid tag "${tag}"`);
  }
  if (!REPO_RE.test(repository)) throw new Error(`invalid repository "${repository}"`);
  return { scheme, host, repository, tag, digest };
}

const MODES: Record<string, ActivationMode> = {
  reboot: ActivationMode.REBOOT,
  kexec: ActivationMode.KEXEC,
  none: ActivationMode.NONE,
};

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((r) => {
    const t = setTimeout(r, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(t);
      r();
    }, { once: true });
  });

async function updateOne(
  ctx: Context,
  cluster: Cluster,
  id: string,
  address: string,
  ref: ImageRef,
) {
  const start = Date.now();
  ctx.stderr(`sending update request to: ${id} (${address})`);
  const nm = await cluster.nodeClient(NodeManagement, address, NODE_MANAGEMENT_PORT, id);
  await nm.updateNode({
    activationMode: MODES[ctx.str("activation-mode")],
    osImage: ref,
  }).catch((e) => {
    throw new Error(`update request to ${id}: ${describeError(e)}`);
  });
  await sleep(15_000, ctx.signal);
  for (;;) {
    if (ctx.signal.aborted) throw new Error("interrupted");
    const [n] = await getNodes(cluster, `node.id == ${JSON.stringify(id)}`).catch(() => []);
    if (n?.health === Node_Health.HEALTHY) {
      const v = n.status?.version ? formatVersion(n.status.version) : "unknown";
      ctx.stderr(
        `node ${id} updated in ${((Date.now() - start) / 1000).toFixed(1)}s to version ${v}`,
      );
      return;
    }
    await sleep(10_000, ctx.signal);
  }
}

async function update(ctx: Context): Promise<void> {
  const refText = ctx.str("image-ref");
  if (!refText) throw new UsageError("flag image-ref is required", ctx.command);
  let ref: ImageRef;
  try {
    ref = parseImageRef(refText);
  } catch (e) {
    throw new UsageError(`invalid --image-ref: ${(e as Error).message}`, ctx.command);
  }
  const maxUnavailable = Number(ctx.str("max-unavailable"));
  if (maxUnavailable === 0) {
    throw new UsageError("unable to update nodes with max-unavailable set to zero", ctx.command);
  }
  const exclude = new Set(ctx.list("exclude"));
  const cluster = await connectCluster(ctx);
  try {
    const nodes = narrow(await getNodes(cluster, ""), ctx.args).filter((n) => !exclude.has(n.id));
    const queue = nodes.map((n) => ({ id: n.id, address: nodeAddress(n) }));
    const failures: string[] = [];
    const worker = async () => {
      for (let next = queue.shift(); next; next = queue.shift()) {
        await updateOne(ctx, cluster, next.id, next.address, ref).catch((e) => {
          failures.push((e as Error).message);
          ctx.stderr(`Couldn't update node "${next!.id}": ${(e as Error).message}`);
        });
      }
    };
    await Promise.all(Array.from({ length: Math.min(maxUnavailable, queue.length) }, worker));
    if (failures.length) {
      throw new CliError(
        `update failed for ${failures.length} of ${nodes.length} nodes (${failures[0]})`,
      );
    }
  } finally {
    await cluster.close();
  }
}

/** `node update`. */
export const updateCommand: Command = {
  name: "update",
  summary: "Update the OS of nodes",
  usage: "<node-id...|all> --image-ref <ref> [flags]",
  args: { min: 1 },
  flags: [
    {
      name: "image-ref",
      kind: "string",
      help: "OS image: [http[s]://]host[:port]/repository[:tag]@digest",
    },
    {
      name: "activation-mode",
      kind: "string",
      default: "reboot",
      help: "reboot, kexec or none",
      schema: z.enum(["reboot", "kexec", "none"]),
    },
    {
      name: "max-unavailable",
      kind: "string",
      valueName: "int",
      default: "1",
      help: "nodes updated at the same time",
      schema: z.string().regex(/^\d+$/, "must be a non-negative integer"),
    },
    { name: "exclude", kind: "list", help: "node IDs to leave out" },
  ],
  run: update,
};
