/**
 * Kept launcher state (`--keep` then `--keep-state`, issue #4): every launch records the cluster's
 * shape in `<state>/launch.json`; a later `--keep-state --state-dir <state>` reads it back and
 * checks that the directory really holds a kept cluster — the record, the metroctl owner
 * credentials, and a sealed configuration on every node's ESP (nodes that never finished their
 * enrolment cannot rejoin): a namespace node's ESP is the directory `nodes/<i>/esp`, a VM's is the
 * ESP partition inside `nodes/<i>/disk.img` (read with the FAT32 reader, vm/esp.ts). Anything
 * missing is a {@link UsageError} (the CLI exits 2). The kept nodes boot on their own state: a VM cluster keeps
 * its disks, OVMF VARS and swtpm state, so it needs no image.
 * @module
 */
import { type LaunchOptions, parseSubnet, UsageError } from "./options.ts";
import { FILES } from "../../metroctl/core/config.ts";
import { ESP_FILES } from "../../node/core/localstorage/paths.ts";
import { readEspFile } from "./vm/esp.ts";
import { vmNodeFiles } from "./vm/node.ts";
import { VM_CAPABILITIES } from "../../node/core/platform/vm.ts";
import { NAMESPACE_CAPABILITIES } from "../../node/core/platform/namespace.ts";

/**
 * Why a kept cluster of this shape cannot be started again, or undefined when it can. Nodes with
 * encrypted data get the cluster's half of their key from JoinNode, i.e. from a running curator —
 * which itself runs on such a node: a whole cluster started cold has none (node.md §11.5; as
 * upstream). Whether nodes encrypt depends on what their platform can do.
 */
export function coldStartBlocker(
  mode: LaunchOptions["mode"],
  storageSecurity: LaunchOptions["storageSecurity"],
): string | undefined {
  const caps = mode === "vm" ? VM_CAPABILITIES : NAMESPACE_CAPABILITIES;
  if (!caps.encryption || storageSecurity === "needs-insecure") return undefined;
  return `its nodes encrypt their data (--storage-security ${storageSecurity}) and get the ` +
    `cluster's half of the key from a running curator, which a cluster started cold does not ` +
    `have; keep clusters launched with --storage-security needs-insecure`;
}

/** The record's file name inside the state directory. */
export const LAUNCH_RECORD = "launch.json";
/** A namespace node's sealed configuration, relative to its node directory (node.md §8.1). */
export const SEALED_CONFIGURATION = `esp/${ESP_FILES.sealedConfiguration}`;

/** What `launch.json` holds: the options that shape the cluster. */
export interface LaunchRecord {
  version: 1;
  /** Absent in records written before VM clusters existed: namespace. */
  mode?: LaunchOptions["mode"];
  numNodes: number;
  subnet: string;
  clusterDomain: string;
  tpmMode: LaunchOptions["tpmMode"];
  storageSecurity: LaunchOptions["storageSecurity"];
  tpm: LaunchOptions["tpm"];
  storage: LaunchOptions["storage"];
}

/** The record of `o`. */
export function launchRecord(o: LaunchOptions): LaunchRecord {
  return {
    version: 1,
    mode: o.mode,
    numNodes: o.numNodes,
    subnet: o.subnet.cidr,
    clusterDomain: o.clusterDomain,
    tpmMode: o.tpmMode,
    storageSecurity: o.storageSecurity,
    tpm: o.tpm,
    storage: o.storage,
  };
}

/** Writes `<stateDir>/launch.json`. */
export async function writeLaunchRecord(o: LaunchOptions): Promise<void> {
  await Deno.writeTextFile(
    `${o.stateDir}/${LAUNCH_RECORD}`,
    JSON.stringify(launchRecord(o), null, 2) + "\n",
  );
}

async function present(p: string): Promise<boolean> {
  return await Deno.stat(p).then(() => true, () => false);
}

/** Whether the node in `nodeDir` wrote its sealed configuration to its ESP. */
async function hasSealedConfiguration(
  mode: LaunchOptions["mode"],
  nodeDir: string,
): Promise<boolean> {
  if (mode === "namespace") return await present(`${nodeDir}/${SEALED_CONFIGURATION}`);
  const disk = vmNodeFiles(nodeDir).disk;
  if (!(await present(disk))) return false;
  try {
    return (await readEspFile(disk, ESP_FILES.sealedConfiguration)) !== undefined;
  } catch {
    return false; // no readable GPT/ESP: not a disk a node ever enrolled from
  }
}

/**
 * Reads and checks the kept cluster in `o.stateDir` and returns `o` with the kept shape applied
 * (role flags empty: the cluster already has its roles). Throws {@link UsageError} naming what is
 * missing.
 */
export async function resumeOptions(o: LaunchOptions): Promise<LaunchOptions> {
  const dir = o.stateDir;
  const none = (why: string) => new UsageError(`--keep-state: no kept cluster in ${dir}: ${why}`);
  let rec: LaunchRecord;
  try {
    rec = JSON.parse(await Deno.readTextFile(`${dir}/${LAUNCH_RECORD}`));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw none(`no ${LAUNCH_RECORD}`);
    throw none(`${LAUNCH_RECORD}: ${(e as Error).message.split("\n")[0]}`);
  }
  if (rec?.version !== 1 || !Number.isInteger(rec.numNodes) || typeof rec.subnet !== "string") {
    throw none(`${LAUNCH_RECORD} is not a launch record`);
  }
  const mode = rec.mode ?? "namespace";
  if (mode !== "namespace" && mode !== "vm") throw none(`${LAUNCH_RECORD}: bad mode ${mode}`);
  const blocker = coldStartBlocker(mode, rec.storageSecurity);
  if (blocker) {
    throw new UsageError(`--keep-state: the kept cluster in ${dir} cannot start again: ${blocker}`);
  }
  for (const f of Object.values(FILES)) {
    if (!(await present(`${dir}/metroctl/${f}`))) throw none(`metroctl/${f} missing`);
  }
  for (let i = 0; i < rec.numNodes; i++) {
    if (!(await hasSealedConfiguration(mode, `${dir}/nodes/${i}`))) {
      throw none(`node ${i} has no sealed configuration`);
    }
  }
  let subnet;
  try {
    subnet = parseSubnet(rec.subnet);
  } catch {
    throw none(`${LAUNCH_RECORD}: bad subnet ${JSON.stringify(rec.subnet)}`);
  }
  return {
    ...o,
    mode,
    numNodes: rec.numNodes,
    subnet,
    clusterDomain: rec.clusterDomain,
    tpmMode: rec.tpmMode,
    storageSecurity: rec.storageSecurity,
    tpm: rec.tpm,
    storage: rec.storage,
    consensusMember: [],
    kubernetesController: [],
    kubernetesWorker: [],
  };
}
