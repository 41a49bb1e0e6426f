/**
 * The reconciler status in etcd (`curator/kubernetes/reconciler/status`, kubernetes.md §10):
 * which version reconciled the builtin objects last, whether it finished, and the oldest release
 * whose controllers may run against them.
 *
 * Upstream stores a `KubernetesReconcilerStatus` protobuf; no such message exists in this
 * project's proto/ nor in the wire spec, so the status is stored as JSON of the same shape (proto
 * JSON field names). Nothing outside this cluster's agents reads the key.
 */

/** Key of the status, relative to the root KV. */
export const STATUS_KEY = "curator/kubernetes/reconciler/status";
/** Namespace of the reconciler's election (keys `leader/<lease>` below it). */
export const RECONCILER_NAMESPACE = "curator/kubernetes/reconciler/";

/** A release as SemVer MAJOR.MINOR.PATCH. */
export interface Release {
  major: number;
  minor: number;
  patch: number;
}

/** The stored status. */
export interface ReconcilerStatus {
  state: "DONE" | "WORKING";
  /** Version of the agent that wrote the status (SemVer string). */
  version: string;
  minimumCompatibleRelease: Release;
}

/** The oldest release whose controllers work with the objects this version reconciles. */
export const MINIMUM_COMPATIBLE_RELEASE: Release = { major: 0, minor: 1, patch: 0 };

/** The release part of a SemVer string (`0.1.0-dev3.gabc` → 0.1.0); undefined if malformed. */
export function parseRelease(version: string): Release | undefined {
  const m = /^v?(\d+)\.(\d+)\.(\d+)(?:[-+].*)?$/.exec(version.trim());
  return m ? { major: +m[1], minor: +m[2], patch: +m[3] } : undefined;
}

/** Orders releases: negative when `a` is older than `b`. */
export function compareRelease(a: Release, b: Release): number {
  return a.major - b.major || a.minor - b.minor || a.patch - b.patch;
}

/**
 * Whether a controller of `version` may start the components gated on the reconciler: the
 * status is DONE and `version` is not older than its minimum compatible release. A version that
 * does not parse is treated as incompatible rather than guessed.
 */
export function compatible(status: ReconcilerStatus | undefined, version: string): boolean {
  if (status?.state !== "DONE") return false;
  const r = parseRelease(version);
  return !!r && compareRelease(r, status.minimumCompatibleRelease) >= 0;
}

/** Serializes a status for etcd. */
export function encodeStatus(s: ReconcilerStatus): string {
  return JSON.stringify(s);
}

/** Parses a stored status; undefined for anything that is not one (then it is rewritten). */
export function decodeStatus(bytes: Uint8Array | undefined): ReconcilerStatus | undefined {
  if (!bytes) return undefined;
  try {
    const s = JSON.parse(new TextDecoder().decode(bytes));
    const r = s?.minimumCompatibleRelease;
    if (
      (s.state === "DONE" || s.state === "WORKING") && typeof s.version === "string" &&
      [r?.major, r?.minor, r?.patch].every((n) => Number.isInteger(n))
    ) {
      return {
        state: s.state,
        version: s.version,
        minimumCompatibleRelease: { major: r.major, minor: r.minor, patch: r.patch },
      };
    }
  } catch { /* not JSON */ }
  return undefined;
}
