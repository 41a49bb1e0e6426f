/** The sealed configuration file's plain and TPM forms against a real swtpm. */
import assert from "node:assert/strict";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  SealedConfigurationFileSchema,
  SealedConfigurationSchema,
} from "../../../proto/gen/metropolis/proto/private/private_pb.ts";
import { NodeStorageSecurity } from "../../../proto/gen/metropolis/proto/common/common_pb.ts";
import { Swtpm } from "../../base/tpm/swtpm.ts";
import { openSealedConfiguration, sealConfiguration } from "./sealed.ts";

const hasSwtpm = await Deno.stat("/usr/bin/swtpm").then(() => true, () => false);

const config = create(SealedConfigurationSchema, {
  nodeUnlockKey: new Uint8Array(32).fill(1),
  joinKey: new Uint8Array(64).fill(2),
  clusterCa: new Uint8Array([3, 4, 5]),
  storageSecurity: NodeStorageSecurity.INSECURE,
});

Deno.test("sealed configuration: plain without a TPM", async () => {
  const f = await sealConfiguration(config, undefined);
  assert.equal(f.kind.case, "plain");
  const o = await openSealedConfiguration(f, undefined);
  assert.equal(o.fromTpm, false);
  assert.deepEqual(o.config.nodeUnlockKey, config.nodeUnlockKey);
});

Deno.test(
  "sealed configuration: TPM form survives a file round trip and needs the TPM and PCR 7",
  { ignore: !hasSwtpm, sanitizeResources: false, sanitizeOps: false },
  async () => {
    const sw = await Swtpm.start();
    const tpm = await sw.connect();
    try {
      const f = fromBinary(
        SealedConfigurationFileSchema,
        toBinary(SealedConfigurationFileSchema, await sealConfiguration(config, tpm)),
      );
      assert.equal(f.kind.case, "tpm");
      if (f.kind.case !== "tpm") return;
      assert.equal(f.kind.value.pcrSelection, "sha256:[7]");
      const o = await openSealedConfiguration(f, tpm);
      assert.equal(o.fromTpm, true);
      assert.deepEqual(o.config.joinKey, config.joinKey);
      assert.deepEqual(o.config.clusterCa, config.clusterCa);
      await assert.rejects(
        openSealedConfiguration(f, undefined),
        /TPM-sealed and no TPM is available/,
      );
      await tpm.pcrExtend(7, new Uint8Array(32).fill(0xaa));
      await assert.rejects(
        openSealedConfiguration(f, tpm),
        /^TpmError: TPM2_Unseal: TPM_RC_POLICY_FAIL \(0x99d\)$/,
      );
    } finally {
      tpm.close();
      await sw.destroy();
    }
  },
);
