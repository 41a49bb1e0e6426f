/**
 * Reading and writing the ESP's Metropolis files (node.md §6, §8.1, §8.4): node parameters, the
 * cluster directory and the sealed configuration. Writes are durable replacements
 * ({@link writeFileDurable}): a power cut leaves the old or the new file, never half of one, and
 * a written file is still there after it.
 */
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  type NodeParameters,
  NodeParametersSchema,
} from "../../../proto/gen/metropolis/proto/api/configuration_pb.ts";
import {
  type ClusterDirectory,
  ClusterDirectorySchema,
} from "../../../proto/gen/metropolis/proto/common/common_pb.ts";
import {
  type SealedConfiguration,
  type SealedConfigurationFile,
  SealedConfigurationFileSchema,
} from "../../../proto/gen/metropolis/proto/private/private_pb.ts";
import { writeFileDurable } from "../../base/sys/durable.ts";
import { ESP, ESP_FILES, FW_CFG_PARAMETERS } from "./paths.ts";

async function readOptional(path: string): Promise<Uint8Array | undefined> {
  try {
    return await Deno.readFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
}

/** Where the parameters came from. */
export type ParametersSource = "fw_cfg" | "esp";

/** Reads NodeParameters: fw_cfg first, then the ESP (§6); undefined when neither exists. */
export async function readNodeParameters(
  esp = ESP,
): Promise<{ params: NodeParameters; source: ParametersSource } | undefined> {
  for (
    const [path, source] of [[FW_CFG_PARAMETERS, "fw_cfg"], [
      `${esp}/${ESP_FILES.parameters}`,
      "esp",
    ]] as const
  ) {
    const b = await readOptional(path);
    if (!b) continue;
    try {
      return { params: fromBinary(NodeParametersSchema, b), source };
    } catch (e) {
      throw new Error(`node parameters from ${source} do not decode: ${(e as Error).message}`);
    }
  }
  return undefined;
}

/**
 * Node parameters for a node that has neither them nor a sealed configuration yet: waits until
 * they appear on the ESP (watched with inotify, not polled) and returns them. A launcher may boot
 * a namespace node before its parameters exist (they need the first node's cluster CA and
 * register ticket) and write them atomically later. Returns at once when they are already there.
 */
export async function waitForNodeParameters(
  signal: AbortSignal,
  esp = ESP,
): Promise<{ params: NodeParameters; source: ParametersSource }> {
  // Watch before reading, so a file written in between is not missed.
  const watcher = Deno.watchFs(esp, { recursive: true });
  const close = () => {
    try {
      watcher.close();
    } catch { /* closed */ }
  };
  signal.addEventListener("abort", close, { once: true });
  // A signal aborted before the listener was added never fires it (a stop during start-up).
  if (signal.aborted) close();
  try {
    const events = watcher[Symbol.asyncIterator]();
    for (;;) {
      const p = await readNodeParameters(esp);
      if (p) return p;
      if ((await events.next()).done) {
        signal.throwIfAborted();
        throw new Error(`watch of ${esp} ended`);
      }
    }
  } finally {
    signal.removeEventListener("abort", close);
    close();
  }
}

/** Whether the ESP holds a sealed configuration file (whether it opens is enrolment's matter). */
export async function hasSealedConfigurationFile(esp = ESP): Promise<boolean> {
  return (await readOptional(`${esp}/${ESP_FILES.sealedConfiguration}`)) !== undefined;
}

/** Reads the cluster directory from the ESP. */
export async function readClusterDirectory(esp = ESP): Promise<ClusterDirectory | undefined> {
  const b = await readOptional(`${esp}/${ESP_FILES.clusterDirectory}`);
  return b && fromBinary(ClusterDirectorySchema, b);
}

/** Writes the cluster directory to the ESP. */
export async function writeClusterDirectory(d: ClusterDirectory, esp = ESP): Promise<void> {
  await writeFileDurable(
    `${esp}/${ESP_FILES.clusterDirectory}`,
    toBinary(ClusterDirectorySchema, d),
  );
}

/** Reads the sealed configuration file; undefined when absent; throws when it does not decode. */
export async function readSealedConfigurationFile(
  esp = ESP,
): Promise<SealedConfigurationFile | undefined> {
  const b = await readOptional(`${esp}/${ESP_FILES.sealedConfiguration}`);
  if (!b) return undefined;
  try {
    return fromBinary(SealedConfigurationFileSchema, b);
  } catch (e) {
    throw new Error(`corrupt file: ${(e as Error).message}`);
  }
}

/** Writes the sealed configuration file (plain or TPM-sealed). */
export async function writeSealedConfigurationFile(
  f: SealedConfigurationFile,
  esp = ESP,
): Promise<void> {
  await writeFileDurable(
    `${esp}/${ESP_FILES.sealedConfiguration}`,
    toBinary(SealedConfigurationFileSchema, f),
  );
}

/** The plain payload of a file, or a reason why it cannot be used without a TPM. */
export function plainSealedConfiguration(f: SealedConfigurationFile): SealedConfiguration {
  if (f.kind.case === "plain") return f.kind.value;
  if (f.kind.case === "tpm") throw new Error("it is TPM-sealed and no TPM is available");
  throw new Error("it is empty");
}
