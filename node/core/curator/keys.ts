/** etcd keys of the curator's state, relative to the `curator/` namespace (node.md §12.3). */
import { toHex } from "../../base/pki/keys.ts";

/** `nodes/<node ID>`: private.Node. */
export const nodeKey = (id: string): string => `nodes/${id}`;
/** Prefix of all node records. */
export const NODES_PREFIX = "nodes/";
/** `join_keys/<hex join key>`: node ID. */
export const joinKeyKey = (joinKey: Uint8Array): string => `join_keys/${toHex(joinKey)}`;
/** `global/initial_owner`: InitialOwner. */
export const INITIAL_OWNER_KEY = "global/initial_owner";
/** `global/register_ticket`: RegisterTicket. */
export const REGISTER_TICKET_KEY = "global/register_ticket";
/** `cluster/configuration`: ClusterConfiguration. */
export const CLUSTER_CONFIGURATION_KEY = "cluster/configuration";
/** Namespace (below `curator/`) of the cluster PKI. */
export const CLUSTER_PKI_NAMESPACE = "cluster-pki/";
/** Name of the cluster CA in the cluster PKI. */
export const CLUSTER_CA_NAME = "ca";
