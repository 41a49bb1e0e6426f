/**
 * Cluster configuration (`metropolis.proto.common.ClusterConfiguration`): defaults (node.md §6,
 * §7.2), validation and the field-mask update of ConfigureCluster (§12.10). The TPM mode and
 * storage security policy tables (§12.8) live in policy.ts and are re-exported here.
 *
 * Pure functions only; the curator services map {@link ConfigError} kinds to gRPC codes.
 */
import { celEnv, isCelError, parse, plan } from "@bufbuild/cel";
import { clone, create, equals } from "@bufbuild/protobuf";
import type { FieldMask } from "@bufbuild/protobuf/wkt";
import {
  type ClusterConfiguration,
  type ClusterConfiguration_Kubernetes_NodeLabelsToSynchronize,
  ClusterConfiguration_Kubernetes_NodeLabelsToSynchronizeSchema,
  ClusterConfiguration_KubernetesSchema,
  ClusterConfiguration_StorageSecurityPolicy as Policy,
  ClusterConfiguration_TPMMode as TPMMode,
  ClusterConfigurationSchema,
} from "../../../proto/gen/metropolis/proto/common/common_pb.ts";
import { ConfigError } from "./policy.ts";

export * from "./policy.ts";

/** The cluster domain of a cluster bootstrapped without one (and of stored configs lacking it). */
export const DEFAULT_CLUSTER_DOMAIN = "cluster.internal";

/**
 * The configuration a cluster gets when the bootstrap parameters carry none: domain
 * `cluster.internal`, TPM REQUIRED, storage NEEDS_ENCRYPTION_AND_AUTHENTICATION, no Kubernetes
 * label synchronization rules. `kubernetes` is present (empty) because stored configurations
 * always carry it. A new message on every call.
 */
export function defaultClusterConfiguration(): ClusterConfiguration {
  return create(ClusterConfigurationSchema, {
    clusterDomain: DEFAULT_CLUSTER_DOMAIN,
    tpmMode: TPMMode.TPM_MODE_REQUIRED,
    storageSecurityPolicy: Policy.NEEDS_ENCRYPTION_AND_AUTHENTICATION,
    kubernetes: create(ClusterConfiguration_KubernetesSchema, { nodeLabelsToSynchronize: [] }),
  });
}

/**
 * A stored configuration as the cluster uses it: a copy with an empty `cluster_domain` read as
 * `cluster.internal` (the field was added later upstream) and `kubernetes` present.
 */
export function withStoredDefaults(stored: ClusterConfiguration): ClusterConfiguration {
  const c = clone(ClusterConfigurationSchema, stored);
  if (c.clusterDomain === "") c.clusterDomain = DEFAULT_CLUSTER_DOMAIN;
  c.kubernetes ??= create(ClusterConfiguration_KubernetesSchema, {});
  return c;
}

const DOMAIN_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/** Why `d` is not a valid cluster domain, or undefined if it is. */
export function clusterDomainProblem(d: string): string | undefined {
  const q = JSON.stringify(d);
  if (d === "") return "cluster_domain must not be empty";
  if (d.length > 80) return `cluster_domain ${q} is longer than 80 characters`;
  const labels = d.split(".");
  for (const l of labels) {
    if (!DOMAIN_LABEL.test(l)) {
      return `cluster_domain ${q}: label ${
        JSON.stringify(l)
      } is not 1-63 lowercase letters, digits or '-' starting and ending alphanumeric`;
    }
  }
  // An all-numeric last label would make the name look like (part of) an IP address.
  if (/^[0-9]+$/.test(labels[labels.length - 1])) {
    return `cluster_domain ${q} must not end in a number`;
  }
  return undefined;
}

/**
 * Throws {@link ConfigError} `invalid` unless `d` is a valid cluster domain: at most 80
 * characters of RFC 1123 labels (lowercase letters, digits, `-`), the last label not numeric.
 */
export function validateClusterDomain(d: string): void {
  const p = clusterDomainProblem(d);
  if (p) throw new ConfigError("invalid", p);
}

// RE2 is what upstream (Go) compiles these with; @bufbuild/cel's `matches` is RE2 (it wraps
// @bufbuild/re2), so compiling through it accepts exactly RE2 syntax — no lookaround or
// backreferences — and reports Go's error messages.
let matchesCache: ((bindings: { s: string; re: string }) => unknown) | undefined;
function matches(s: string, re: string): boolean | string {
  matchesCache ??= plan(celEnv(), parse("s.matches(re)")) as never;
  const r = matchesCache({ s, re });
  if (isCelError(r)) return r.message.replace(/\s+/g, " ");
  return r === true;
}

/** Why `re` is not a valid RE2 regular expression, or undefined if it is. */
export function regexpProblem(re: string): string | undefined {
  const r = matches("", re);
  return typeof r === "string" ? r : undefined;
}

/**
 * Compiles an RE2 pattern (a `node_labels_to_synchronize` rule) into an unanchored matcher, like
 * Go's `regexp.MatchString`. Throws {@link ConfigError} `invalid` if it does not compile.
 */
export function compileRe2(re: string): (s: string) => boolean {
  const p = regexpProblem(re);
  if (p) throw new ConfigError("invalid", `regexp ${JSON.stringify(re)}: ${p}`);
  return (s) => matches(s, re) === true;
}

function checkRules(
  field: string,
  rules: readonly ClusterConfiguration_Kubernetes_NodeLabelsToSynchronize[],
): void {
  rules.forEach((r, i) => {
    const p = regexpProblem(r.regexp);
    if (p) throw new ConfigError("invalid", `${field}[${i}].regexp: ${p}`);
  });
}

/**
 * The configuration a new cluster starts with (§7.2): defaults when `initial` is undefined,
 * otherwise a normalized copy (empty domain → `cluster.internal`). Throws {@link ConfigError}
 * `invalid` for an invalid domain, an unset TPM mode or storage security policy, or a label
 * rule regexp that does not compile.
 */
export function initialClusterConfiguration(initial?: ClusterConfiguration): ClusterConfiguration {
  if (!initial) return defaultClusterConfiguration();
  const c = withStoredDefaults(initial);
  validateClusterDomain(c.clusterDomain);
  if (!(c.tpmMode in TPMMode) || c.tpmMode === TPMMode.TPM_MODE_INVALID) {
    throw new ConfigError("invalid", `tpm_mode ${c.tpmMode} is not a valid TPM mode`);
  }
  if (!(c.storageSecurityPolicy in Policy) || c.storageSecurityPolicy === Policy.INVALID) {
    throw new ConfigError(
      "invalid",
      `storage_security_policy ${c.storageSecurityPolicy} is not a valid policy`,
    );
  }
  checkRules("kubernetes.node_labels_to_synchronize", c.kubernetes!.nodeLabelsToSynchronize);
  return c;
}

const LABEL_RULES_PATH = "kubernetes.node_labels_to_synchronize";

/**
 * ConfigureCluster (§12.10): applies the masked fields of `newConfig` to `stored` and returns
 * the resulting configuration (a new message; the inputs are not modified).
 *
 * Only `kubernetes.node_labels_to_synchronize` may be changed. Throws {@link ConfigError}
 * `invalid` if `newConfig` or `updateMask` is missing, a mask path is `kubernetes` or anything
 * else, or a new regexp does not compile (RE2); `failed_precondition` if `baseConfig` is given
 * and its value of a masked field differs from the stored one. An unset `kubernetes` in
 * `newConfig` or `baseConfig` counts as an empty rule list. An empty mask changes nothing.
 */
export function applyConfigureCluster(
  stored: ClusterConfiguration,
  newConfig: ClusterConfiguration | undefined,
  updateMask: FieldMask | undefined,
  baseConfig?: ClusterConfiguration,
): ClusterConfiguration {
  if (!newConfig) throw new ConfigError("invalid", "new_config must be set");
  if (!updateMask) throw new ConfigError("invalid", "update_mask must be set");
  const out = clone(ClusterConfigurationSchema, stored);
  out.kubernetes ??= create(ClusterConfiguration_KubernetesSchema, {});
  // Validate every path before applying any, so a bad request changes nothing.
  for (const path of updateMask.paths) {
    if (path === "kubernetes") {
      throw new ConfigError("invalid", "cannot mutate kubernetes directly, only its subfields");
    }
    if (path !== LABEL_RULES_PATH) throw new ConfigError("invalid", `cannot mutate ${path}`);
  }
  if (updateMask.paths.includes(LABEL_RULES_PATH)) {
    const current = out.kubernetes.nodeLabelsToSynchronize;
    if (baseConfig) {
      const base = baseConfig.kubernetes?.nodeLabelsToSynchronize ?? [];
      const same = base.length === current.length &&
        base.every((r, i) =>
          equals(ClusterConfiguration_Kubernetes_NodeLabelsToSynchronizeSchema, r, current[i])
        );
      if (!same) {
        throw new ConfigError(
          "failed_precondition",
          `base_config.${LABEL_RULES_PATH} differs from the current value`,
        );
      }
    }
    const next = newConfig.kubernetes?.nodeLabelsToSynchronize ?? [];
    checkRules(`new_config.${LABEL_RULES_PATH}`, next);
    out.kubernetes.nodeLabelsToSynchronize = next.map((r) =>
      clone(ClusterConfiguration_Kubernetes_NodeLabelsToSynchronizeSchema, r)
    );
  }
  return out;
}
