/**
 * Which enrolment flow a boot takes (node.md §7.1), decided from what is on the ESP alone.
 *
 * A sealed configuration without the cluster CA can only be left by a bootstrap that broke off
 * (bootstrap seals the node's half of the data key before etcd exists and adds the CA as its
 * last step; register seals once, at its end). Nothing outside the node depends on such a
 * bootstrap: the curator first serves after enrolment, so no owner, node or ticket has seen the
 * cluster yet. If the node parameters still ask for a bootstrap, it starts again from the
 * beginning — new keys, a freshly formatted `/data` — instead of leaving a node that can never
 * start (an agent crash or a power cut during bootstrap would otherwise mean reinstalling).
 * @module
 */

/** The flow of this boot. */
export type EnrolmentPath =
  | { flow: "join" }
  | { flow: "bootstrap"; again: boolean }
  | { flow: "register" }
  | { flow: "refuse"; reason: string };

/** What {@link enrolmentPath} looks at. */
export interface EnrolmentInputs {
  /** The opened sealed configuration's cluster CA (undefined: no sealed configuration). */
  sealedClusterCa?: Uint8Array;
  /** Which cluster case the node parameters carry (undefined: no parameters). */
  params?: "clusterBootstrap" | "clusterRegister" | undefined;
}

/** Decides the flow (pure; see the module comment). */
export function enrolmentPath(i: EnrolmentInputs): EnrolmentPath {
  if (i.sealedClusterCa !== undefined) {
    if (i.sealedClusterCa.length > 0) return { flow: "join" };
    if (i.params === "clusterBootstrap") return { flow: "bootstrap", again: true };
    return {
      flow: "refuse",
      reason: "sealed configuration present but unusable: written by a bootstrap that did not " +
        "finish (no cluster CA) and the node parameters no longer ask for a bootstrap; " +
        "reinstall the node",
    };
  }
  if (i.params === "clusterBootstrap") return { flow: "bootstrap", again: false };
  if (i.params === "clusterRegister") return { flow: "register" };
  return {
    flow: "refuse",
    reason: "node parameters have neither cluster_bootstrap nor cluster_register",
  };
}
