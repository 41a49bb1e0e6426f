/**
 * The OS version (the OS-image contract, part 5): one SemVer for the image, the agent's status
 * and metroctl. A build may stamp another version into the image (`/etc/product-info.json`);
 * the agent reports that one when present, see {@link parseVersion}.
 * @module
 */

/** The OS version of this source tree. */
export const OS_VERSION = "0.1.0";

/** A parsed version as the API carries it (`metropolis.proto.common.Version.Release`). */
export interface Release {
  major: bigint;
  minor: bigint;
  patch: bigint;
}

const SEMVER = /^(\d{1,9})\.(\d{1,9})\.(\d{1,9})(?:[-+][0-9A-Za-z.+-]*)?$/;

/** Parses `major.minor.patch[-pre][+build]`; throws on anything else. */
export function parseVersion(s: string): Release {
  const m = SEMVER.exec(s);
  if (!m) throw new Error(`not a version: ${JSON.stringify(s)} (want major.minor.patch)`);
  return { major: BigInt(m[1]), minor: BigInt(m[2]), patch: BigInt(m[3]) };
}

/** The release of {@link OS_VERSION}. */
export const OS_RELEASE: Readonly<Release> = Object.freeze(parseVersion(OS_VERSION));
