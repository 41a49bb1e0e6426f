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

/** Where the image build records the product information (version, commit, components). */
export const PRODUCT_INFO_PATH = "/etc/product-info.json";

/**
 * The version of the running OS: the `version` of {@link PRODUCT_INFO_PATH} when the image
 * carries one (a build may stamp another version than this tree's), else {@link OS_VERSION}
 * (namespace nodes, tests). A present but malformed file is an error, not a silent fallback.
 */
export function runningVersion(path = PRODUCT_INFO_PATH): string {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return OS_VERSION;
    throw e;
  }
  const v = (JSON.parse(text) as { version?: unknown }).version;
  if (typeof v !== "string") throw new Error(`${path}: no version string`);
  parseVersion(v);
  return v;
}
