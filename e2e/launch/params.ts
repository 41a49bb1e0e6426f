/**
 * NodeParameters written by the launcher (node.md §6, testing.md §2.4): bootstrap parameters for
 * node 0, register parameters for the others, each with the node's static network
 * configuration, as the binary `metropolis/parameters.pb` on the node's ESP.
 * @module
 */
import { create, toBinary } from "@bufbuild/protobuf";
import {
  type NodeParameters,
  NodeParameters_ClusterBootstrapSchema,
  NodeParameters_ClusterRegisterSchema,
  NodeParametersSchema,
} from "../../proto/gen/metropolis/proto/api/configuration_pb.ts";
import {
  type ClusterConfiguration,
  ClusterConfiguration_Kubernetes_NodeLabelsToSynchronizeSchema,
  ClusterConfiguration_KubernetesSchema,
  ClusterConfiguration_StorageSecurityPolicy as Policy,
  ClusterConfiguration_TPMMode as TPMMode,
  ClusterConfigurationSchema,
  type ClusterDirectory,
  NodeLabels_PairSchema,
  NodeLabelsSchema,
} from "../../proto/gen/metropolis/proto/common/common_pb.ts";
import type { Net } from "../../proto/gen/osbase/net/proto/net_pb.ts";
import type { LaunchOptions } from "./options.ts";
import { insecureOwnerPublicKey } from "./insecure_key.ts";

/** Label every launcher node carries: its index. */
export const NODE_NUMBER_LABEL = "test-node-number";
/** Labels the CLI's clusters synchronise to Kubernetes (§2.5). */
export const SYNC_LABELS_REGEXP = "^test-";

const TPM_MODES: Record<LaunchOptions["tpmMode"], TPMMode> = {
  required: TPMMode.TPM_MODE_REQUIRED,
  "best-effort": TPMMode.TPM_MODE_BEST_EFFORT,
  disabled: TPMMode.TPM_MODE_DISABLED,
};

const POLICIES: Record<LaunchOptions["storageSecurity"], Policy> = {
  permissive: Policy.PERMISSIVE,
  "needs-encryption": Policy.NEEDS_ENCRYPTION,
  "needs-encryption-and-authentication": Policy.NEEDS_ENCRYPTION_AND_AUTHENTICATION,
  "needs-insecure": Policy.NEEDS_INSECURE,
};

/** The labels of launcher node `i`: `test-node-number=<i>` (also on installer media's base parameters). */
export function nodeNumberLabels(i: number) {
  return create(NodeLabelsSchema, {
    pairs: [create(NodeLabels_PairSchema, { key: NODE_NUMBER_LABEL, value: String(i) })],
  });
}

/** The initial cluster configuration of launcher clusters, from the options. */
export function initialClusterConfiguration(opts: LaunchOptions): ClusterConfiguration {
  return create(ClusterConfigurationSchema, {
    clusterDomain: opts.clusterDomain,
    tpmMode: TPM_MODES[opts.tpmMode],
    storageSecurityPolicy: POLICIES[opts.storageSecurity],
    kubernetes: create(ClusterConfiguration_KubernetesSchema, {
      nodeLabelsToSynchronize: [
        create(ClusterConfiguration_Kubernetes_NodeLabelsToSynchronizeSchema, {
          regexp: SYNC_LABELS_REGEXP,
        }),
      ],
    }),
  });
}

/**
 * EXTENSION POINT (cluster bring-up): parameters of node 0 — `cluster_bootstrap` with the
 * INSECURE TEST owner key, the initial configuration and label `test-node-number=0`.
 */
export async function bootstrapParameters(
  opts: LaunchOptions,
  network?: Net,
): Promise<NodeParameters> {
  return create(NodeParametersSchema, {
    cluster: {
      case: "clusterBootstrap",
      value: create(NodeParameters_ClusterBootstrapSchema, {
        ownerPublicKey: await insecureOwnerPublicKey(),
        initialClusterConfiguration: initialClusterConfiguration(opts),
        labels: nodeNumberLabels(0),
      }),
    },
    networkConfig: network,
  });
}

/**
 * EXTENSION POINT (cluster bring-up): parameters of node `i` ≥ 1 — `cluster_register` with the
 * ticket from `GetRegisterTicket`, the directory from `GetClusterInfo`, the CA certificate (DER)
 * and label `test-node-number=<i>`.
 */
export function registerParameters(
  i: number,
  ticket: Uint8Array,
  directory: ClusterDirectory,
  caCertificate: Uint8Array,
  network?: Net,
): NodeParameters {
  return create(NodeParametersSchema, {
    cluster: {
      case: "clusterRegister",
      value: create(NodeParameters_ClusterRegisterSchema, {
        registerTicket: ticket,
        clusterDirectory: directory,
        caCertificate,
        labels: nodeNumberLabels(i),
      }),
    },
    networkConfig: network,
  });
}

/** Parameters without a cluster variant (only the network): the node waits, logging why. */
export function networkOnlyParameters(network?: Net): NodeParameters {
  return create(NodeParametersSchema, { networkConfig: network });
}

/** Binary encoding written to `<esp>/metropolis/parameters.pb`. */
export function encodeParameters(p: NodeParameters): Uint8Array {
  return toBinary(NodeParametersSchema, p);
}
