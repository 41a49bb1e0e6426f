/**
 * The sealed configuration file's two forms (node.md §8.4, §7.1): `plain`, or `tpm` (the
 * serialized SealedConfiguration sealed to PCR 7 by node/base/tpm). Opening a `tpm` file needs
 * the TPM that sealed it and an unchanged PCR 7.
 */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  type SealedConfiguration,
  type SealedConfigurationFile,
  SealedConfigurationFileSchema,
  SealedConfigurationSchema,
  TPMSealedSchema,
} from "../../../proto/gen/metropolis/proto/private/private_pb.ts";
import { seal, type Tpm, unseal } from "../../base/tpm/mod.ts";
import { plainSealedConfiguration } from "../localstorage/esp.ts";

/** Builds the file: sealed with `tpm` when given (the node uses its TPM), else plain. */
export async function sealConfiguration(
  s: SealedConfiguration,
  tpm: Tpm | undefined,
): Promise<SealedConfigurationFile> {
  if (!tpm) return create(SealedConfigurationFileSchema, { kind: { case: "plain", value: s } });
  const sealed = await seal(tpm, toBinary(SealedConfigurationSchema, s));
  return create(SealedConfigurationFileSchema, {
    kind: { case: "tpm", value: create(TPMSealedSchema, sealed) },
  });
}

/** An opened file: the configuration and whether it came out of the TPM. */
export interface OpenedConfiguration {
  config: SealedConfiguration;
  fromTpm: boolean;
}

/** Opens the file; throws a one-line reason when it cannot be used. */
export async function openSealedConfiguration(
  f: SealedConfigurationFile,
  tpm: Tpm | undefined,
): Promise<OpenedConfiguration> {
  if (f.kind.case !== "tpm") return { config: plainSealedConfiguration(f), fromTpm: false };
  if (!tpm) throw new Error("it is TPM-sealed and no TPM is available");
  const payload = await unseal(tpm, f.kind.value);
  let config;
  try {
    config = fromBinary(SealedConfigurationSchema, payload);
  } catch (e) {
    throw new Error(`unsealed payload is not a SealedConfiguration: ${(e as Error).message}`);
  }
  return { config, fromTpm: true };
}
