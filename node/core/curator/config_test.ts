import assert from "node:assert/strict";
import { create, equals, fromBinary, toBinary } from "@bufbuild/protobuf";
import { FieldMaskSchema } from "@bufbuild/protobuf/wkt";
import {
  applyConfigureCluster,
  clusterDomainProblem,
  compileRe2,
  ConfigError,
  defaultClusterConfiguration,
  initialClusterConfiguration,
  joinTpmCheck,
  recommendedStorageSecurity,
  regexpProblem,
  storageSecurityAllowed,
  tpmUsageFor,
  validateClusterDomain,
  withStoredDefaults,
} from "./config.ts";
import {
  type ClusterConfiguration,
  ClusterConfiguration_StorageSecurityPolicy as Policy,
  ClusterConfiguration_TPMMode as TPMMode,
  ClusterConfigurationSchema,
  NodeStorageSecurity as SS,
  NodeTPMUsage as Usage,
} from "../../../proto/gen/metropolis/proto/common/common_pb.ts";

function configError(f: () => unknown, kind: ConfigError["kind"], match: RegExp) {
  assert.throws(f, (e) => {
    assert.ok(e instanceof ConfigError, `expected ConfigError, got ${e}`);
    assert.equal(e.kind, kind);
    assert.match(e.message, match);
    assert.ok(!e.message.includes("\n"), "one-line message");
    return true;
  });
}

const rules = (...res: string[]) =>
  create(ClusterConfigurationSchema, {
    kubernetes: { nodeLabelsToSynchronize: res.map((regexp) => ({ regexp })) },
  });
const ruleList = (c: ClusterConfiguration) =>
  c.kubernetes?.nodeLabelsToSynchronize.map((r) => r.regexp);
const mask = (...paths: string[]) => create(FieldMaskSchema, { paths });

Deno.test("defaults of §6/§7.2", () => {
  const d = defaultClusterConfiguration();
  assert.equal(d.clusterDomain, "cluster.internal");
  assert.equal(d.tpmMode, TPMMode.TPM_MODE_REQUIRED);
  assert.equal(d.storageSecurityPolicy, Policy.NEEDS_ENCRYPTION_AND_AUTHENTICATION);
  assert.deepEqual(ruleList(d), []);
  // Every call returns a fresh message; it survives a wire round trip.
  assert.notEqual(defaultClusterConfiguration(), d);
  const back = fromBinary(ClusterConfigurationSchema, toBinary(ClusterConfigurationSchema, d));
  assert.ok(equals(ClusterConfigurationSchema, back, d));
});

Deno.test("withStoredDefaults reads an empty domain as cluster.internal", () => {
  const stored = create(ClusterConfigurationSchema, { tpmMode: TPMMode.TPM_MODE_DISABLED });
  const c = withStoredDefaults(stored);
  assert.equal(c.clusterDomain, "cluster.internal");
  assert.deepEqual(ruleList(c), []);
  assert.equal(c.tpmMode, TPMMode.TPM_MODE_DISABLED);
  assert.equal(stored.clusterDomain, "", "input untouched");
  assert.equal(
    withStoredDefaults(create(ClusterConfigurationSchema, { clusterDomain: "a.b" }))
      .clusterDomain,
    "a.b",
  );
});

Deno.test("cluster domain validation", () => {
  for (
    const d of [
      "cluster.internal",
      "a",
      "metropolis-1.example.com",
      "x1",
      "1x.y2z",
      `${"a".repeat(63)}.b`,
      "a".repeat(80).replace(/(.{40})/, "$1."),
    ]
  ) {
    assert.equal(clusterDomainProblem(d.slice(0, 80)), undefined, d);
  }
  const bad: [string, RegExp][] = [
    ["", /must not be empty/],
    [`${"a".repeat(40)}.${"b".repeat(40)}`, /longer than 80/],
    ["Cluster.internal", /label "Cluster"/],
    ["cluster_x.internal", /label "cluster_x"/],
    ["-a.internal", /label "-a"/],
    ["a-.internal", /label "a-"/],
    ["a..b", /label ""/],
    ["a.", /label ""/],
    [".a", /label ""/],
    [`${"a".repeat(64)}.b`, /label/],
    ["example.123", /must not end in a number/],
    ["10", /must not end in a number/],
  ];
  for (const [d, re] of bad) {
    const p = clusterDomainProblem(d);
    assert.match(p ?? "(valid)", re, d);
    assert.match(p!, /^cluster_domain/);
  }
  configError(() => validateClusterDomain("UPPER"), "invalid", /cluster_domain "UPPER"/);
  validateClusterDomain("cluster.internal");
});

Deno.test("initialClusterConfiguration: defaults, normalization, validation", () => {
  assert.ok(
    equals(
      ClusterConfigurationSchema,
      initialClusterConfiguration(),
      defaultClusterConfiguration(),
    ),
  );
  const c = initialClusterConfiguration(create(ClusterConfigurationSchema, {
    tpmMode: TPMMode.TPM_MODE_BEST_EFFORT,
    storageSecurityPolicy: Policy.PERMISSIVE,
  }));
  assert.equal(c.clusterDomain, "cluster.internal");
  assert.equal(c.tpmMode, TPMMode.TPM_MODE_BEST_EFFORT);
  const ok = { tpmMode: TPMMode.TPM_MODE_DISABLED, storageSecurityPolicy: Policy.NEEDS_INSECURE };
  configError(
    () =>
      initialClusterConfiguration(
        create(ClusterConfigurationSchema, { ...ok, clusterDomain: "a.1" }),
      ),
    "invalid",
    /cluster_domain/,
  );
  configError(
    () => initialClusterConfiguration(create(ClusterConfigurationSchema, { ...ok, tpmMode: 0 })),
    "invalid",
    /tpm_mode 0/,
  );
  configError(
    () =>
      initialClusterConfiguration(
        create(ClusterConfigurationSchema, { ...ok, storageSecurityPolicy: 9 as Policy }),
      ),
    "invalid",
    /storage_security_policy 9/,
  );
  configError(
    () =>
      initialClusterConfiguration(
        create(ClusterConfigurationSchema, {
          ...ok,
          kubernetes: { nodeLabelsToSynchronize: [{ regexp: "(" }] },
        }),
      ),
    "invalid",
    /node_labels_to_synchronize\[0\]\.regexp: error parsing regexp/,
  );
});

Deno.test("regexps are checked with RE2 semantics", () => {
  for (const re of ["", "^node\\.example\\.com/", "(?i)zone", "(?P<x>a)", "[[:alpha:]]+", "\\pL"]) {
    assert.equal(regexpProblem(re), undefined, re);
  }
  // JS RegExp accepts all of these; RE2 (Go) does not.
  assert.match(regexpProblem("(?=x)")!, /invalid or unsupported Perl syntax: `\(\?=`/);
  assert.match(regexpProblem("x(?<!y)")!, /error parsing regexp: invalid named capture/);
  assert.match(regexpProblem("(a)\\1")!, /invalid escape sequence: `\\1`/);
  assert.match(regexpProblem("a{1001}")!, /invalid repeat count/);
  assert.match(regexpProblem("([a-")!, /missing closing/);
  // Unanchored, like Go's regexp.MatchString.
  const m = compileRe2("^example\\.com/");
  assert.equal(m("example.com/rack"), true);
  assert.equal(m("sub.example.com/rack"), false);
  assert.equal(compileRe2("zone")("topology/zone-a"), true);
  configError(() => compileRe2("(?!x)"), "invalid", /regexp "\(\?!x\)": error parsing regexp/);
});

Deno.test("ConfigureCluster: replaces the label rules, nothing else, inputs untouched", () => {
  const stored = withStoredDefaults(rules("^a/"));
  stored.clusterDomain = "prod.example";
  stored.tpmMode = TPMMode.TPM_MODE_REQUIRED;
  const newConfig = rules("^b/", "^c/");
  newConfig.clusterDomain = "ignored.example"; // not masked
  newConfig.tpmMode = TPMMode.TPM_MODE_DISABLED;
  const out = applyConfigureCluster(
    stored,
    newConfig,
    mask("kubernetes.node_labels_to_synchronize"),
  );
  assert.deepEqual(ruleList(out), ["^b/", "^c/"]);
  assert.equal(out.clusterDomain, "prod.example");
  assert.equal(out.tpmMode, TPMMode.TPM_MODE_REQUIRED);
  assert.deepEqual(ruleList(stored), ["^a/"]);
  // The result does not alias the request.
  newConfig.kubernetes!.nodeLabelsToSynchronize[0].regexp = "changed";
  assert.deepEqual(ruleList(out), ["^b/", "^c/"]);
  // Clearing: an empty list, or new_config without kubernetes at all.
  assert.deepEqual(
    ruleList(applyConfigureCluster(stored, rules(), mask("kubernetes.node_labels_to_synchronize"))),
    [],
  );
  assert.deepEqual(
    ruleList(
      applyConfigureCluster(
        stored,
        create(ClusterConfigurationSchema, {}),
        mask("kubernetes.node_labels_to_synchronize"),
      ),
    ),
    [],
  );
  // An empty mask changes nothing; a stored config without kubernetes still gets it.
  const same = applyConfigureCluster(stored, newConfig, mask());
  assert.ok(equals(ClusterConfigurationSchema, same, stored));
  assert.deepEqual(
    ruleList(applyConfigureCluster(create(ClusterConfigurationSchema, {}), rules(), mask())),
    [],
  );
});

Deno.test("ConfigureCluster: invalid requests", () => {
  const stored = defaultClusterConfiguration();
  const m = mask("kubernetes.node_labels_to_synchronize");
  configError(
    () => applyConfigureCluster(stored, undefined, m),
    "invalid",
    /new_config must be set/,
  );
  configError(
    () => applyConfigureCluster(stored, rules(), undefined),
    "invalid",
    /update_mask must be set/,
  );
  configError(
    () => applyConfigureCluster(stored, rules(), mask("kubernetes")),
    "invalid",
    /cannot mutate kubernetes directly/,
  );
  configError(
    () =>
      applyConfigureCluster(
        stored,
        rules(),
        mask("kubernetes.node_labels_to_synchronize", "kubernetes"),
      ),
    "invalid",
    /kubernetes directly/,
  );
  for (
    const p of ["cluster_domain", "tpm_mode", "storage_security_policy", "kubernetes.foo", "x"]
  ) {
    configError(() => applyConfigureCluster(stored, rules(), mask(p)), "invalid", new RegExp(p));
  }
  configError(
    () => applyConfigureCluster(stored, rules("ok", "(?=bad)"), m),
    "invalid",
    /new_config\.kubernetes\.node_labels_to_synchronize\[1\]\.regexp: error parsing regexp/,
  );
});

Deno.test("ConfigureCluster: base_config compare-and-swap", () => {
  const stored = withStoredDefaults(rules("^a/", "^b/"));
  const m = mask("kubernetes.node_labels_to_synchronize");
  // Matching base: applied.
  assert.deepEqual(ruleList(applyConfigureCluster(stored, rules("^c/"), m, rules("^a/", "^b/"))), [
    "^c/",
  ]);
  // Only masked fields are compared.
  const base = rules("^a/", "^b/");
  base.clusterDomain = "whatever.example";
  base.tpmMode = TPMMode.TPM_MODE_DISABLED;
  assert.deepEqual(ruleList(applyConfigureCluster(stored, rules(), m, base)), []);
  // Different order, a different list, or an unset base list: FAILED_PRECONDITION.
  for (const b of [rules("^b/", "^a/"), rules("^a/"), create(ClusterConfigurationSchema, {})]) {
    configError(
      () => applyConfigureCluster(stored, rules("^c/"), m, b),
      "failed_precondition",
      /base_config\.kubernetes\.node_labels_to_synchronize differs/,
    );
  }
  // An empty stored list matches a base without kubernetes.
  assert.deepEqual(
    ruleList(
      applyConfigureCluster(
        defaultClusterConfiguration(),
        rules("x"),
        m,
        create(ClusterConfigurationSchema, {}),
      ),
    ),
    ["x"],
  );
});

Deno.test("tpmUsageFor: the RegisterNode table of §12.8", () => {
  assert.equal(tpmUsageFor(TPMMode.TPM_MODE_REQUIRED, true), Usage.NODE_TPM_USAGE_PRESENT_AND_USED);
  configError(
    () => tpmUsageFor(TPMMode.TPM_MODE_REQUIRED, false),
    "permission_denied",
    /^TPM required but not available$/,
  );
  assert.equal(
    tpmUsageFor(TPMMode.TPM_MODE_BEST_EFFORT, true),
    Usage.NODE_TPM_USAGE_PRESENT_AND_USED,
  );
  assert.equal(tpmUsageFor(TPMMode.TPM_MODE_BEST_EFFORT, false), Usage.NODE_TPM_USAGE_NOT_PRESENT);
  assert.equal(
    tpmUsageFor(TPMMode.TPM_MODE_DISABLED, true),
    Usage.NODE_TPM_USAGE_PRESENT_BUT_UNUSED,
  );
  assert.equal(tpmUsageFor(TPMMode.TPM_MODE_DISABLED, false), Usage.NODE_TPM_USAGE_NOT_PRESENT);
  configError(() => tpmUsageFor(TPMMode.TPM_MODE_INVALID, true), "invalid", /tpm_mode 0/);
});

Deno.test("joinTpmCheck: the JoinNode rules of §12.8", () => {
  const M = TPMMode;
  const cases: [TPMMode, Usage, boolean, RegExp | null][] = [
    [M.TPM_MODE_REQUIRED, Usage.NODE_TPM_USAGE_PRESENT_AND_USED, true, null],
    [M.TPM_MODE_REQUIRED, Usage.NODE_TPM_USAGE_PRESENT_AND_USED, false, /requires a TPM/],
    [M.TPM_MODE_DISABLED, Usage.NODE_TPM_USAGE_PRESENT_BUT_UNUSED, false, null],
    [M.TPM_MODE_DISABLED, Usage.NODE_TPM_USAGE_NOT_PRESENT, false, null],
    [M.TPM_MODE_DISABLED, Usage.NODE_TPM_USAGE_PRESENT_AND_USED, true, /disabled/],
    [M.TPM_MODE_BEST_EFFORT, Usage.NODE_TPM_USAGE_PRESENT_AND_USED, true, null],
    [M.TPM_MODE_BEST_EFFORT, Usage.NODE_TPM_USAGE_NOT_PRESENT, false, null],
    [M.TPM_MODE_BEST_EFFORT, Usage.NODE_TPM_USAGE_PRESENT_AND_USED, false, /registered with/],
    [M.TPM_MODE_BEST_EFFORT, Usage.NODE_TPM_USAGE_NOT_PRESENT, true, /registered without/],
    [M.TPM_MODE_BEST_EFFORT, Usage.NODE_TPM_USAGE_PRESENT_BUT_UNUSED, true, /registered without/],
    // A node registered under BEST_EFFORT without a TPM, cluster later switched to REQUIRED.
    [M.TPM_MODE_REQUIRED, Usage.NODE_TPM_USAGE_NOT_PRESENT, false, /requires a TPM/],
    // Registered with TPM use, cluster later switched to DISABLED: its sealed config is refused.
    [M.TPM_MODE_DISABLED, Usage.NODE_TPM_USAGE_PRESENT_AND_USED, false, /registered with/],
  ];
  for (const [mode, usage, sealed, err] of cases) {
    const f = () => joinTpmCheck(mode, usage, sealed);
    if (err) configError(f, "permission_denied", err);
    else f();
  }
});

Deno.test("storage security policy table of §12.8", () => {
  assert.equal(recommendedStorageSecurity(Policy.PERMISSIVE), SS.AUTHENTICATED_ENCRYPTED);
  assert.equal(recommendedStorageSecurity(Policy.NEEDS_ENCRYPTION), SS.ENCRYPTED);
  assert.equal(
    recommendedStorageSecurity(Policy.NEEDS_ENCRYPTION_AND_AUTHENTICATION),
    SS.AUTHENTICATED_ENCRYPTED,
  );
  assert.equal(recommendedStorageSecurity(Policy.NEEDS_INSECURE), SS.INSECURE);
  configError(() => recommendedStorageSecurity(Policy.INVALID), "invalid", /policy 0/);

  const all = [SS.INVALID, SS.INSECURE, SS.ENCRYPTED, SS.AUTHENTICATED_ENCRYPTED, 7 as SS];
  const accepted = (p: Policy) => all.filter((s) => storageSecurityAllowed(p, s));
  assert.deepEqual(accepted(Policy.PERMISSIVE), [
    SS.INSECURE,
    SS.ENCRYPTED,
    SS.AUTHENTICATED_ENCRYPTED,
  ]);
  assert.deepEqual(accepted(Policy.NEEDS_ENCRYPTION), [SS.ENCRYPTED, SS.AUTHENTICATED_ENCRYPTED]);
  assert.deepEqual(accepted(Policy.NEEDS_ENCRYPTION_AND_AUTHENTICATION), [
    SS.AUTHENTICATED_ENCRYPTED,
  ]);
  assert.deepEqual(accepted(Policy.NEEDS_INSECURE), [SS.INSECURE]);
  assert.deepEqual(accepted(Policy.INVALID), []);
  assert.deepEqual(accepted(42 as Policy), []);
  // The recommendation is always accepted by its own policy.
  for (const p of [1, 2, 3, 4] as Policy[]) {
    assert.ok(storageSecurityAllowed(p, recommendedStorageSecurity(p)));
  }
});
