import assert from "node:assert/strict";
import { buildImages, IMAGE_REFS } from "./images.ts";

Deno.test("images: every preseeded archive (pause, busybox, httpserver, connectivity) is built once and named", async () => {
  const a = await buildImages();
  const b = await buildImages();
  assert.deepEqual(a, b, "a second build reuses the same cached archives");
  for (const [name, img] of Object.entries(a)) {
    assert.equal(img.ref, IMAGE_REFS[name as keyof typeof IMAGE_REFS]);
    const list = await new Deno.Command("tar", {
      args: ["-xOf", img.path, "index.json"],
      stdout: "piped",
    })
      .output();
    assert.ok(list.success, `tar must read ${img.path}`);
    const index = JSON.parse(new TextDecoder().decode(list.stdout));
    assert.equal(index.manifests[0].annotations["io.containerd.image.name"], img.ref);
  }
});
