/**
 * Registry client checks against a real local HTTP server: references are validated before any
 * request, a manifest whose bytes do not hash to the pinned digest is refused, an oversized
 * manifest is not read to the end, and 5xx answers count as an unreachable registry.
 */
import assert from "node:assert/strict";
import { checkImageRef, RegistryClient, RegistryError } from "./registry.ts";

const DIGEST = "sha256:" + "a".repeat(64);

Deno.test("references are checked before anything is fetched", () => {
  const ok = {
    scheme: "https",
    host: "registry.example:5000",
    repository: "os/node",
    digest: DIGEST,
  };
  checkImageRef(ok);
  for (
    const [bad, msg] of [
      [{ ...ok, scheme: "ftp" }, /unsupported scheme/],
      [{ ...ok, host: "" }, /invalid host/],
      [{ ...ok, repository: "Upper" }, /invalid repository/],
      [{ ...ok, digest: "" }, /missing digest/],
      [{ ...ok, digest: "sha256:xyz" }, /invalid digest/],
    ] as const
  ) {
    assert.throws(
      () => checkImageRef(bad),
      (e) => e instanceof RegistryError && e.kind === "invalid" && msg.test(e.message),
    );
  }
});

Deno.test("digest mismatch, oversized manifests and server errors are classified", async () => {
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, (req) => {
    const p = new URL(req.url).pathname;
    if (p.includes("/down/")) return new Response("boom", { status: 503 });
    if (p.includes("/big/")) return new Response(new Uint8Array(2 * 1024 * 1024));
    if (p.endsWith("/manifests/" + DIGEST)) return new Response('{"schemaVersion":2}');
    return new Response("not found", { status: 404 });
  });
  const ref = {
    scheme: "http",
    host: `127.0.0.1:${server.addr.port}`,
    repository: "os",
    digest: DIGEST,
  };
  const kind = (p: Promise<unknown>) =>
    p.then(() => "ok", (e: RegistryError) => `${e.kind}: ${e.message}`);
  try {
    assert.match(
      await kind(new RegistryClient(ref).fetchImage()),
      /^bad-content: manifest digest mismatch/,
    );
    assert.match(
      await kind(new RegistryClient({ ...ref, repository: "big" }).fetchImage()),
      /^bad-content: manifest .*exceeds/,
    );
    assert.match(
      await kind(new RegistryClient({ ...ref, repository: "down" }).fetchImage()),
      /^unreachable: .*HTTP 503/,
    );
  } finally {
    await server.shutdown();
  }
});
