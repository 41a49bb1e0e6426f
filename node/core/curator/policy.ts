/**
 * The TPM mode and storage security policy tables of the cluster configuration (node.md §12.8)
 * and the error type of every configuration check. Kept apart from config.ts (which compiles
 * RE2 patterns with CEL) so enrolment on a node without the ConsensusMember role does not load
 * the CEL runtime.
 */
import {
  ClusterConfiguration_StorageSecurityPolicy as Policy,
  ClusterConfiguration_TPMMode as TPMMode,
  NodeStorageSecurity,
  NodeTPMUsage,
} from "../../../proto/gen/metropolis/proto/common/common_pb.ts";

/** Why a configuration or policy check failed; the service maps `kind` to a gRPC code. */
export class ConfigError extends Error {
  /** INVALID_ARGUMENT, FAILED_PRECONDITION or PERMISSION_DENIED. */
  readonly kind: "invalid" | "failed_precondition" | "permission_denied";

  /** `message` is one line naming the offending field. */
  constructor(kind: ConfigError["kind"], message: string) {
    super(message);
    this.kind = kind;
    this.name = "ConfigError";
  }
}

/**
 * RegisterNode's TPM rule (§12.8): the `tpm_usage` a node gets from the cluster's TPM mode and
 * whether it has a TPM. Throws {@link ConfigError} `permission_denied` "TPM required but not
 * available" for REQUIRED without a TPM, `invalid` for an unknown mode.
 */
export function tpmUsageFor(mode: TPMMode, hasTpm: boolean): NodeTPMUsage {
  switch (mode) {
    case TPMMode.TPM_MODE_REQUIRED:
      if (!hasTpm) throw new ConfigError("permission_denied", "TPM required but not available");
      return NodeTPMUsage.NODE_TPM_USAGE_PRESENT_AND_USED;
    case TPMMode.TPM_MODE_BEST_EFFORT:
      return hasTpm
        ? NodeTPMUsage.NODE_TPM_USAGE_PRESENT_AND_USED
        : NodeTPMUsage.NODE_TPM_USAGE_NOT_PRESENT;
    case TPMMode.TPM_MODE_DISABLED:
      return hasTpm
        ? NodeTPMUsage.NODE_TPM_USAGE_PRESENT_BUT_UNUSED
        : NodeTPMUsage.NODE_TPM_USAGE_NOT_PRESENT;
    default:
      throw new ConfigError("invalid", `cluster tpm_mode ${mode} is not a valid TPM mode`);
  }
}

/**
 * JoinNode's TPM rules (§12.8). Throws {@link ConfigError} `permission_denied` when the node's
 * use of a sealed configuration contradicts the cluster's TPM mode (REQUIRED needs it, DISABLED
 * forbids it) or what the node registered with (PRESENT_AND_USED needs it, anything else
 * forbids it).
 */
export function joinTpmCheck(
  mode: TPMMode,
  registeredUsage: NodeTPMUsage,
  usingSealed: boolean,
): void {
  if (mode === TPMMode.TPM_MODE_REQUIRED && !usingSealed) {
    throw new ConfigError(
      "permission_denied",
      "cluster requires a TPM but the node does not use a sealed configuration",
    );
  }
  if (mode === TPMMode.TPM_MODE_DISABLED && usingSealed) {
    throw new ConfigError(
      "permission_denied",
      "cluster has TPM use disabled but the node uses a sealed configuration",
    );
  }
  const registeredUsed = registeredUsage === NodeTPMUsage.NODE_TPM_USAGE_PRESENT_AND_USED;
  if (registeredUsed && !usingSealed) {
    throw new ConfigError(
      "permission_denied",
      "node registered with its TPM in use but does not use a sealed configuration",
    );
  }
  if (!registeredUsed && usingSealed) {
    throw new ConfigError(
      "permission_denied",
      "node registered without TPM use but uses a sealed configuration",
    );
  }
}

const ALLOWED: Readonly<Record<Policy, readonly NodeStorageSecurity[]>> = {
  [Policy.INVALID]: [],
  [Policy.PERMISSIVE]: [
    NodeStorageSecurity.INSECURE,
    NodeStorageSecurity.ENCRYPTED,
    NodeStorageSecurity.AUTHENTICATED_ENCRYPTED,
  ],
  [Policy.NEEDS_ENCRYPTION]: [
    NodeStorageSecurity.ENCRYPTED,
    NodeStorageSecurity.AUTHENTICATED_ENCRYPTED,
  ],
  [Policy.NEEDS_ENCRYPTION_AND_AUTHENTICATION]: [NodeStorageSecurity.AUTHENTICATED_ENCRYPTED],
  [Policy.NEEDS_INSECURE]: [NodeStorageSecurity.INSECURE],
};

/**
 * The storage security a registering node is told to use under `policy` (§12.8). Throws
 * {@link ConfigError} `invalid` for an unset or unknown policy.
 */
export function recommendedStorageSecurity(policy: Policy): NodeStorageSecurity {
  switch (policy) {
    case Policy.PERMISSIVE:
    case Policy.NEEDS_ENCRYPTION_AND_AUTHENTICATION:
      return NodeStorageSecurity.AUTHENTICATED_ENCRYPTED;
    case Policy.NEEDS_ENCRYPTION:
      return NodeStorageSecurity.ENCRYPTED;
    case Policy.NEEDS_INSECURE:
      return NodeStorageSecurity.INSECURE;
    default:
      throw new ConfigError(
        "invalid",
        `cluster storage_security_policy ${policy} is not a valid policy`,
      );
  }
}

/** Whether CommitNode accepts `value` under `policy` (§12.8); false for unknown values. */
export function storageSecurityAllowed(policy: Policy, value: NodeStorageSecurity): boolean {
  return (ALLOWED[policy] ?? []).includes(value);
}
