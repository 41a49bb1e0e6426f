/**
 * What the update suites share: OS images of a given version built into a test directory, and a
 * node's release as GetNodes reports it.
 * @module
 */
import { buildImage, type Image } from "../../../os-image/image.ts";
import type { Node } from "../../../proto/gen/metropolis/proto/api/management_pb.ts";
import { formatVersion } from "../../../metroctl/core/nodes.ts";

/**
 * The image of `version` in `<dir>/<version>` (no launcher disk; OVMF VARS only with `ovmf`:
 * one set per suite suffices), its build time printed with `prefix`.
 */
export async function buildVersion(
  dir: string,
  version: string,
  o: { ovmf: boolean; prefix: string },
): Promise<Image> {
  const t0 = performance.now();
  const img = await buildImage({ outDir: `${dir}/${version}`, version, disk: false, ovmf: o.ovmf });
  console.log(
    `${o.prefix}: image ${version} built in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
  return img;
}

/** `MAJOR.MINOR.PATCH` the node runs, or `unknown` when it reports no version. */
export function nodeRelease(n: Node | undefined): string {
  return n?.status?.version ? formatVersion(n.status.version).split("-")[0] : "unknown";
}
