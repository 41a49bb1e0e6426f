/**
 * `node update <ids…|all>`: checks the OS image in its registry, then rolls it out
 * (core/rollout.ts): `UpdateNode` to each node's NodeManagement, at most `--max-unavailable` in
 * flight, each watched until HEALTHY on the image's version before the next starts.
 */
import {
  ActivationMode,
  Node_Health,
  NodeManagement,
} from "../../proto/gen/metropolis/proto/api/management_pb.ts";
import { z } from "zod";
import type { Command } from "../core/args.ts";
import type { Context } from "../core/context.ts";
import { connectCluster } from "../core/dial.ts";
import { CliError, describeError, UsageError } from "../core/errors.ts";
import { getNodes, narrow, nodeAddress } from "../core/nodes.ts";
import { rollout } from "../core/rollout.ts";
import { RegistryClient, RegistryError } from "../../node/base/oci/registry.ts";
import { PAYLOAD_NAMES, requirePayloads } from "../../node/base/osimage/ociimage.ts";
import { parseVersion } from "../../node/base/osimage/version.ts";
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

/**
 * Reads the image's manifest and config from the registry before any node is touched: a wrong
 * digest or an image that is not a complete node image fails here with the reason. A registry
 * that metroctl cannot reach (the nodes may see another network) only costs the version check.
 */
async function preflight(ctx: Context, ref: ImageRef): Promise<string | undefined> {
  try {
    const img = await new RegistryClient(ref, { timeoutMs: 30_000, signal: ctx.signal })
      .fetchImage();
    requirePayloads(img.image, PAYLOAD_NAMES);
    const v = img.image.config.product_info.version;
    ctx.stderr(`OS image ${ref.digest} holds version ${v}`);
    // Nodes report the release triple only.
    const r = parseVersion(v);
    return `${r.major}.${r.minor}.${r.patch}`;
  } catch (e) {
    if (e instanceof RegistryError && e.kind === "unreachable") {
      ctx.stderr(
        `warning: ${e.message}; the nodes fetch the image themselves, but their new version ` +
          `cannot be checked`,
      );
      return undefined;
    }
    throw new CliError(
      `OS image ${ref.host}/${ref.repository}@${ref.digest}: ${(e as Error).message}`,
    );
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
  const mode = ctx.str("activation-mode");
  const expectedVersion = await preflight(ctx, ref);
  const cluster = await connectCluster(ctx);
  try {
    const nodes = narrow(await getNodes(cluster, ctx.str("filter")), ctx.args)
      .filter((n) => !exclude.has(n.id));
    if (nodes.length === 0) throw new CliError("no nodes to update");
    const r = await rollout({
      nodes: nodes.map((n) => ({ id: n.id, address: nodeAddress(n) })),
      maxUnavailable,
      expectedVersion,
      waitForRestart: mode !== "none",
      signal: ctx.signal,
      log: (l) => ctx.stderr(l),
      send: async (n) => {
        const nm = await cluster.nodeClient(NodeManagement, n.address, NODE_MANAGEMENT_PORT, n.id);
        await nm.updateNode({ activationMode: MODES[mode], osImage: ref }).catch((e) => {
          throw new Error(`update request: ${describeError(e)}`);
        });
      },
      observe: async (n) => {
        const [got] = await getNodes(cluster, `node.id == ${JSON.stringify(n.id)}`);
        return {
          healthy: got?.health === Node_Health.HEALTHY,
          version: got?.status?.version?.release
            ? `${got.status.version.release.major}.${got.status.version.release.minor}.${got.status.version.release.patch}`
            : undefined,
        };
      },
    });
    if (r.failed.length) {
      const skipped = r.skipped.length ? `; ${r.skipped.length} not started` : "";
      throw new CliError(
        `update failed for ${r.failed.length} of ${nodes.length} nodes` +
          ` (${r.failed[0].id}: ${r.failed[0].error})${skipped}`,
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
      help: "reboot, kexec or none (none: activates on the node's next reboot)",
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
    {
      name: "filter",
      kind: "string",
      help: "CEL filter selecting nodes, e.g. 'node.state == NODE_STATE_UP'",
    },
  ],
  run: update,
};
