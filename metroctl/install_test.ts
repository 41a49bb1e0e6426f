/**
 * Tier 1: `metroctl install genusb` writes a real installer medium (sgdisk, mkfs.fat, mtools),
 * checked with the same tools: GPT partition, FAT32 label, files, and the NodeParameters.
 */
import assert from "node:assert/strict";
import { fromBinary } from "@bufbuild/protobuf";
import { NodeParametersSchema } from "../proto/gen/metropolis/proto/api/configuration_pb.ts";
import { ClusterConfiguration_TPMMode as TPMMode } from "../proto/gen/metropolis/proto/common/common_pb.ts";
import { importGoEd25519, rawPublicKey } from "../node/base/pki/keys.ts";
import { pemDecode } from "../node/base/pki/pem.ts";
import { runMetroctl, writeOciLayout } from "./testing.ts";
import { IMAGE_SIZE } from "./core/usb.ts";

async function tool(cmd: string, ...args: string[]): Promise<Uint8Array> {
  const o = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  assert.ok(o.success, `${cmd} ${args.join(" ")}: ${new TextDecoder().decode(o.stderr)}`);
  return o.stdout;
}

Deno.test("install genusb: bootstrap medium", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "metroctl-genusb-test-" });
  try {
    const uki = new TextEncoder().encode("MZ installer UKI stand-in ".repeat(1000));
    await writeOciLayout(`${tmp}/oci`, {
      "installer.efi": uki,
      "boot-a.efi": new Uint8Array(3000).fill(1),
      system: new Uint8Array(5000).fill(2),
    });
    const img = `${tmp}/installer.img`;
    const r = await runMetroctl([
      "--config",
      `${tmp}/cfg`,
      "--cluster",
      "test.internal",
      "install",
      "genusb",
      "--bootstrap",
      "--bootstrap-tpm-mode",
      "disabled",
      "--image",
      `${tmp}/oci`,
      img,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /Generating installer image \(this can take a while\)\./);
    assert.match(r.stderr, /Generated owner key/);
    for (let p = 10; p <= 100; p += 10) assert.match(r.stderr, new RegExp(`\\b${p}% written`));
    assert.equal((await Deno.stat(img)).size, IMAGE_SIZE);

    const gpt = new TextDecoder().decode(await tool("sgdisk", "-p", img));
    assert.match(gpt, /^\s+1\s+2048\s+1050623\s+512\.0 MiB\s+EF00\s+MetropolisInstaller$/m);
    const fat = `${img}@@1M`;
    assert.match(
      new TextDecoder().decode(await tool("mlabel", "-s", "-i", fat, "::")),
      /METRO_INST/,
    );
    assert.deepEqual(await tool("mtype", "-i", fat, "::EFI/BOOT/BOOTX64.EFI"), uki);
    const listing = new TextDecoder().decode(
      await tool("mdir", "-b", "-i", fat, "::metropolis-installer/osimage"),
    );
    assert.match(listing, /index\.json/);
    assert.match(listing, /blobs/);

    const params = fromBinary(
      NodeParametersSchema,
      await tool("mtype", "-i", fat, "::metropolis-installer/nodeparams.pb"),
    );
    assert.equal(params.cluster.case, "clusterBootstrap");
    const b = params.cluster.value!;
    assert.equal(b.initialClusterConfiguration?.clusterDomain, "test.internal");
    assert.equal(b.initialClusterConfiguration?.tpmMode, TPMMode.TPM_MODE_DISABLED);
    const key = await importGoEd25519(
      pemDecode(
        await Deno.readTextFile(`${tmp}/cfg/owner-key.pem`),
        "METROPOLIS INITIAL OWNER PRIVATE KEY",
      ),
    );
    assert.deepEqual(b.ownerPublicKey, await rawPublicKey(key.publicKey));
    assert.equal((await Deno.stat(`${tmp}/cfg/owner-key.pem`)).mode! & 0o777, 0o600);

    const bad = await runMetroctl([
      "--config",
      `${tmp}/cfg`,
      "--cluster",
      "Bad_Domain",
      "install",
      "genusb",
      "--bootstrap",
      "--image",
      `${tmp}/oci`,
      `${tmp}/x.img`,
    ]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /invalid cluster domain: label "Bad_Domain"/);
    const none = await runMetroctl(["install", "genusb", `${tmp}/y.img`]);
    assert.equal(none.code, 1);
    assert.equal(none.stderr.trim(), "metroctl: no installer specified");
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
