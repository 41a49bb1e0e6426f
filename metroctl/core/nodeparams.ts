/**
 * NodeParameters for installer media (metroctl.md §4.5): a base from `--node-params` (text
 * format, `.json` JSON mapping or `.pb` binary), then either `cluster_bootstrap` (owner key of the
 * config directory, created if missing; `--cluster` domain) or `cluster_register` (register
 * ticket, directory and CA from the running cluster).
 */
import { create, fromBinary, fromJsonString, toBinary } from "@bufbuild/protobuf";
import { fromText } from "@bufbuild/protobuf/txtpb";
import {
  type NodeParameters,
  NodeParameters_ClusterBootstrapSchema,
  NodeParameters_ClusterRegisterSchema,
  NodeParametersSchema,
} from "../../proto/gen/metropolis/proto/api/configuration_pb.ts";
import { Management } from "../../proto/gen/metropolis/proto/api/management_pb.ts";
import {
  ClusterConfiguration_StorageSecurityPolicy as Policy,
  ClusterConfiguration_TPMMode as TPMMode,
} from "../../proto/gen/metropolis/proto/common/common_pb.ts";
import { generateEd25519, rawPublicKey } from "../../node/base/pki/keys.ts";
import type { Context } from "./context.ts";
import { connectCluster } from "./dial.ts";
import { CliError, step, UsageError } from "./errors.ts";

/** `--bootstrap-tpm-mode` values. */
export const TPM_MODES: Record<string, TPMMode> = {
  required: TPMMode.TPM_MODE_REQUIRED,
  "best-effort": TPMMode.TPM_MODE_BEST_EFFORT,
  disabled: TPMMode.TPM_MODE_DISABLED,
};

/** `--bootstrap-storage-security` values. */
export const STORAGE_POLICIES: Record<string, Policy> = {
  permissive: Policy.PERMISSIVE,
  "needs-encryption": Policy.NEEDS_ENCRYPTION,
  "needs-encryption-and-authentication": Policy.NEEDS_ENCRYPTION_AND_AUTHENTICATION,
  "needs-insecure": Policy.NEEDS_INSECURE,
};

/** Why `domain` is not a valid cluster domain (node.md §6), or undefined. */
export function clusterDomainProblem(domain: string): string | undefined {
  if (domain === "") return "must not be empty";
  if (domain.length > 80) return "longer than 80 characters";
  for (const label of domain.split(".")) {
    if (!/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(label)) {
      return `label "${label}" is not an RFC 1123 label of lowercase letters, digits and '-'`;
    }
  }
  if (/[0-9]$/.test(domain)) return "must not end in a number";
  return undefined;
}

async function baseParams(path: string): Promise<NodeParameters> {
  if (!path) return create(NodeParametersSchema);
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    throw new CliError(`reading --node-params ${path}: ${(e as Error).message}`);
  }
  try {
    if (path.endsWith(".pb")) return fromBinary(NodeParametersSchema, bytes);
    const text = new TextDecoder().decode(bytes);
    if (path.endsWith(".json")) return fromJsonString(NodeParametersSchema, text);
    return fromText(NodeParametersSchema, text);
  } catch (e) {
    throw new CliError(`--node-params ${path}: ${(e as Error).message}`);
  }
}

/** Builds the binary NodeParameters per the install flags. */
export async function buildNodeParameters(ctx: Context): Promise<Uint8Array> {
  const params = await baseParams(ctx.str("node-params"));
  const labels = params.cluster.value?.labels;
  if (ctx.bool("bootstrap")) {
    const domain = ctx.str("cluster");
    const problem = clusterDomainProblem(domain);
    if (problem) throw new UsageError(`invalid cluster domain: ${problem}`, ctx.command);
    const tpm = TPM_MODES[ctx.str("bootstrap-tpm-mode")];
    if (tpm === undefined) {
      throw new UsageError(
        `invalid --bootstrap-tpm-mode "${ctx.str("bootstrap-tpm-mode")}": want ${
          Object.keys(TPM_MODES).join(", ")
        }`,
        ctx.command,
      );
    }
    const storage = STORAGE_POLICIES[ctx.str("bootstrap-storage-security")];
    if (storage === undefined) {
      throw new UsageError(
        `invalid --bootstrap-storage-security "${ctx.str("bootstrap-storage-security")}": want ${
          Object.keys(STORAGE_POLICIES).join(", ")
        }`,
        ctx.command,
      );
    }
    let keys = await ctx.config.ownerKey();
    if (!keys) {
      keys = await generateEd25519();
      await ctx.config.writeOwnerKey(keys);
      ctx.stderr(`Generated owner key ${ctx.config.path("owner-key.pem")}`);
    }
    params.cluster = {
      case: "clusterBootstrap",
      value: create(NodeParameters_ClusterBootstrapSchema, {
        ownerPublicKey: await rawPublicKey(keys.publicKey),
        initialClusterConfiguration: {
          clusterDomain: domain,
          tpmMode: tpm,
          storageSecurityPolicy: storage,
        },
        labels,
      }),
    };
    return toBinary(NodeParametersSchema, params);
  }
  const cluster = await connectCluster(ctx);
  try {
    const mgmt = await cluster.client(Management);
    const ticket = await step("GetRegisterTicket", () => mgmt.getRegisterTicket({}));
    const info = await step("GetClusterInfo", () => mgmt.getClusterInfo({}));
    params.cluster = {
      case: "clusterRegister",
      value: create(NodeParameters_ClusterRegisterSchema, {
        registerTicket: ticket.ticket,
        clusterDirectory: info.clusterDirectory,
        caCertificate: info.caCertificate,
        labels,
      }),
    };
    return toBinary(NodeParametersSchema, params);
  } finally {
    await cluster.close();
  }
}
