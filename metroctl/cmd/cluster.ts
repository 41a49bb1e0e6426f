/** `cluster takeownership` and `cluster configure get|set` (metroctl.md §4.3, §4.4). */
import * as grpc from "@grpc/grpc-js";
import { AAA } from "../../proto/gen/metropolis/proto/api/aaa_pb.ts";
import { Management } from "../../proto/gen/metropolis/proto/api/management_pb.ts";
import { rawPublicKey } from "../../node/base/pki/keys.ts";
import type { Command } from "../core/args.ts";
import type { Context } from "../core/context.ts";
import { connectCluster } from "../core/dial.ts";
import { CliError, describeError, isServiceError, step, UsageError } from "../core/errors.ts";
import { formatDocument } from "../core/output.ts";
import { setUpKubeconfig } from "./k8s.ts";

/** The one configurable field. */
export const LABELS_FIELD = "kubernetes.node_labels_to_synchronize";
/** How long Escrow is retried while the cluster answers UNAVAILABLE. */
const ESCROW_RETRY_MS = 60_000;

async function escrow(ctx: Context, keys: CryptoKeyPair): Promise<Uint8Array> {
  const cluster = await connectCluster(ctx, { ephemeral: keys });
  try {
    const aaa = await cluster.client(AAA);
    const stream = aaa.escrow();
    stream.write({
      parameters: { requestedIdentityName: "owner", publicKey: await rawPublicKey(keys.publicKey) },
    });
    for await (const r of stream) {
      if (r.emittedCertificate.length) {
        stream.end();
        return r.emittedCertificate;
      }
      if (r.needed.length) {
        stream.end();
        throw new CliError(`escrow: cluster requires proofs this metroctl cannot give`);
      }
    }
    throw new CliError("escrow: cluster returned no certificate");
  } finally {
    await cluster.close();
  }
}

async function takeOwnership(ctx: Context): Promise<void> {
  if (ctx.list("endpoints").length !== 1) {
    throw new UsageError(
      "takeownership requires a single cluster endpoint to be provided with the --endpoints parameter",
      ctx.command,
    );
  }
  const keys = await ctx.config.ownerKey();
  if (!keys) {
    throw new CliError(
      "owner key does not exist; run takeownership on the machine that ran metroctl install --bootstrap",
    );
  }
  const deadline = Date.now() + ESCROW_RETRY_MS;
  let delay = 500;
  let cert: Uint8Array;
  for (;;) {
    try {
      cert = await escrow(ctx, keys);
      break;
    } catch (e) {
      if (!isServiceError(e) || e.code !== grpc.status.UNAVAILABLE || Date.now() > deadline) {
        if (e instanceof CliError) throw e;
        throw new CliError(`escrow: ${describeError(e)}`);
      }
      ctx.verbose(`escrow: ${describeError(e)}; retrying in ${delay} ms`);
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 5_000);
    }
  }
  await ctx.config.writeOwnerCertificate(cert);
  ctx.stderr(
    "Successfully retrieved owner credentials! You now own this cluster. Setting up kubeconfig now...",
  );
  try {
    await setUpKubeconfig(ctx, (await ctx.config.ca())!);
  } catch (e) {
    // Ownership counts even without Kubernetes reachable (metroctl.md §4.3 step 6).
    ctx.stderr(`kubeconfig not written: ${describeError(e)}; run 'metroctl k8s configure' later`);
  }
}

const quoted = (vs: string[]) => vs.map((v) => JSON.stringify(v)).join(", ");

async function configure(ctx: Context): Promise<void> {
  const [mode, field, ...values] = ctx.args;
  if (mode !== "set" && mode !== "get") {
    throw new UsageError(`invalid mode "${mode}": must be set or get`, ctx.command);
  }
  if (field !== LABELS_FIELD) {
    throw new UsageError(
      `unknown field "${field}", see help for list of supported fields`,
      ctx.command,
    );
  }
  if (mode === "get" && values.length) {
    throw new UsageError(`get ${field} takes no extra arguments`, ctx.command);
  }
  for (const v of values) {
    try {
      new RegExp(v);
    } catch (e) {
      throw new UsageError(`"${v}" is not a valid regexp: ${(e as Error).message}`, ctx.command);
    }
  }
  const cluster = await connectCluster(ctx);
  try {
    const mgmt = await cluster.client(Management);
    let result: string[];
    if (mode === "set") {
      const r = await step("ConfigureCluster", () =>
        mgmt.configureCluster({
          newConfig: {
            kubernetes: { nodeLabelsToSynchronize: values.map((regexp) => ({ regexp })) },
          },
          updateMask: { paths: [LABELS_FIELD] },
        }));
      result = r.resultingConfig?.kubernetes?.nodeLabelsToSynchronize.map((l) => l.regexp) ??
        values;
      ctx.stderr(`New value: ${quoted(result)}`);
    } else {
      const r = await step("GetClusterInfo", () => mgmt.getClusterInfo({}));
      result = r.clusterConfiguration?.kubernetes?.nodeLabelsToSynchronize.map((l) => l.regexp) ??
        [];
      ctx.stderr(`Value: ${quoted(result)}`);
    }
    if (ctx.format !== "plaintext") {
      await ctx.write(formatDocument({ [LABELS_FIELD]: result }, ctx.format));
    }
  } finally {
    await cluster.close();
  }
}

/** The `cluster` command group. */
export const clusterCommand: Command = {
  name: "cluster",
  summary: "Cluster-wide operations",
  children: [
    {
      name: "takeownership",
      summary: "Take ownership of a new cluster",
      description:
        "Takes ownership of a freshly bootstrapped cluster: escrows the owner certificate for owner-key.pem and stores it as owner.pem.",
      usage: "--endpoints <host> [flags]",
      flags: [{
        name: "context",
        kind: "string",
        default: "metroctl",
        help: "kubeconfig context name",
      }],
      args: { max: 0 },
      examples: ["metroctl cluster takeownership --endpoints 192.0.2.1"],
      run: takeOwnership,
    },
    {
      name: "configure",
      summary: "Get or set cluster configuration",
      description:
        `Gets or sets cluster configuration fields.\n\nSupported fields:\n  ${LABELS_FIELD}   list of regular expressions of node labels synchronized into Kubernetes`,
      usage: "<set|get> <field> [values...]",
      args: { min: 2 },
      examples: [
        `metroctl cluster configure set ${LABELS_FIELD} 'foo' 'bar'`,
        `metroctl cluster configure get ${LABELS_FIELD}`,
      ],
      run: configure,
    },
  ],
};
