/**
 * The local registry serves an os-image OCI layout so that the node's registry client
 * (node/base/oci/registry.ts) fetches, checks and streams it; wrong digests, missing blobs,
 * corrupted payloads and an unreachable registry each fail with their own kind.
 */
import assert from "node:assert/strict";
import { RegistryClient, RegistryError } from "../../node/base/oci/registry.ts";
import { verifyChunks } from "../../node/base/osimage/ociimage.ts";
import { blobPath, writeOsImageLayout } from "../../node/base/osimage/oci_layout.ts";
import { route, serveRegistry } from "./server.ts";

const MiB = 1024 * 1024;
const PRODUCT = {
  id: "metropolis-node",
  name: "Metropolis Node",
  version: "0.2.0",
  variant: "test",
  commit_hash: "x",
};

Deno.test("routes: the pull endpoints only", () => {
  assert.deepEqual(route("GET", "/v2/", ["os"]), { kind: "base" });
  assert.equal(route("PUT", "/v2/os/manifests/latest", ["os"]).kind, "error");
  assert.deepEqual(route("GET", "/v2/a/b/manifests/v1", ["a/b"]), {
    kind: "manifest",
    repo: "a/b",
    reference: "v1",
  });
  assert.equal(route("GET", "/v2/a/blobs/sha256:zz", ["a"]).kind, "error");
  assert.equal(route("GET", "/v2/other/blobs/sha256:" + "0".repeat(64), ["a"]).kind, "error");
});

async function kindOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "ok";
  } catch (e) {
    assert.ok(e instanceof RegistryError, String(e));
    assert.ok(!e.message.includes("\n"), "one line");
    return e.kind;
  }
}

Deno.test("a served OS image is fetched by digest, verified and streamed; bad refs fail by kind", async () => {
  const dir = await Deno.makeTempDir();
  const system = new Uint8Array(3 * MiB + 10).map((_, i) => i % 251);
  await Deno.writeFile(`${dir}/system`, system);
  await Deno.writeFile(`${dir}/uki`, new TextEncoder().encode("uki"));
  const { manifestDigest } = await writeOsImageLayout(`${dir}/oci`, [
    { name: "system", path: `${dir}/system` },
    { name: "boot-b.efi", path: `${dir}/uki` },
  ], PRODUCT);
  const reg = await serveRegistry({
    repos: { "metropolis/node": `${dir}/oci` },
    hostname: "127.0.0.1",
  });
  const ref = {
    scheme: "http",
    host: `127.0.0.1:${reg.port}`,
    repository: "metropolis/node",
    digest: manifestDigest,
  };
  try {
    const img = await new RegistryClient(ref).fetchImage();
    assert.equal(img.image.config.product_info.version, "0.2.0");
    let n = 0;
    for await (
      const c of verifyChunks(
        await img.openPayload("system"),
        img.image.payloads.get("system")!.info,
      )
    ) {
      assert.deepEqual(c, system.subarray(n, n + c.length));
      n += c.length;
    }
    assert.equal(n, system.length);
    assert.equal(await kindOf(img.openPayload("installer.efi")), "bad-content");

    const other = "sha256:" + "1".repeat(64);
    assert.equal(
      await kindOf(new RegistryClient({ ...ref, digest: other }).fetchImage()),
      "not-found",
    );
    assert.equal(
      await kindOf(new RegistryClient({ ...ref, repository: "nope" }).fetchImage()),
      "not-found",
    );
    // The config blob is no manifest: refused as content, not trusted.
    const cfg = img.image.manifest.config.digest;
    assert.equal(
      await kindOf(new RegistryClient({ ...ref, digest: cfg }).fetchImage()),
      "bad-content",
    );
    assert.throws(() => new RegistryClient({ ...ref, digest: "" }), /missing digest/);
    assert.throws(() => new RegistryClient({ ...ref, scheme: "ftp" }), /unsupported scheme/);

    // A payload corrupted in the registry fails verification at the bad chunk.
    const blob = blobPath(`${dir}/oci`, img.image.payloads.get("system")!.layer.digest);
    using f = await Deno.open(blob, { write: true });
    await f.seek(2 * MiB + 1, Deno.SeekMode.Start);
    await f.write(new Uint8Array([0xff, 0xff]));
    const img2 = await new RegistryClient(ref).fetchImage();
    const chunks: number[] = [];
    await assert.rejects(async () => {
      const info = img2.image.payloads.get("system")!.info;
      for await (const c of verifyChunks(await img2.openPayload("system"), info)) {
        chunks.push(c.length);
      }
    }, /chunk 2 does not match its hash/);
    assert.deepEqual(chunks, [MiB, MiB]);
  } finally {
    await reg.close();
  }
  // Nothing listens any more.
  assert.equal(
    await kindOf(new RegistryClient(ref, { timeoutMs: 2000 }).fetchImage()),
    "unreachable",
  );
  await Deno.remove(dir, { recursive: true });
});
