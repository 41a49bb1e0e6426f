/**
 * UpdateNode's service fetching over HTTP from the local registry: a served image lands in the
 * inactive slot; a digest the registry does not have, an unreachable registry and a malformed
 * reference each fail with their status and a one-line reason, writing nothing.
 */
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { create } from "@bufbuild/protobuf";
import {
  ActivationMode,
  UpdateNodeRequestSchema,
} from "../../proto/gen/metropolis/proto/api/management_pb.ts";
import { LogTree } from "../../node/base/logtree/logtree.ts";
import { writeOsImageLayout } from "../../node/base/osimage/oci_layout.ts";
import { RpcError } from "../../node/core/rpc/auth.ts";
import { openSlotPath, UpdateService } from "../../node/core/update/mod.ts";
import { serveRegistry } from "./server.ts";

const MiB = 1024 * 1024;

Deno.test("UpdateNode over HTTP: installs from the local registry; bad refs are UNAVAILABLE/INVALID_ARGUMENT", async () => {
  const dir = await Deno.makeTempDir();
  const system = new Uint8Array(2 * MiB + 3).fill(7);
  const files = [];
  for (
    const [name, data] of Object.entries({
      system,
      "boot-a.efi": "A",
      "boot-b.efi": "B",
      "installer.efi": "I",
    })
  ) {
    await Deno.writeFile(
      `${dir}/${name}`,
      typeof data === "string" ? new TextEncoder().encode(data) : data,
    );
    files.push({ name, path: `${dir}/${name}` });
  }
  const { manifestDigest } = await writeOsImageLayout(`${dir}/oci`, files, {
    id: "metropolis-node",
    name: "Metropolis Node",
    version: "0.3.0",
    variant: "test",
    commit_hash: "x",
  });
  for (const s of ["a", "b"]) {
    using f = await Deno.open(`${dir}/slot-${s}`, { write: true, create: true });
    await f.truncate(4 * MiB);
  }
  const reg = await serveRegistry({
    repos: { "metropolis/node": `${dir}/oci` },
    hostname: "127.0.0.1",
  });
  const staged: string[] = [];
  const svc = new UpdateService({
    targets: {
      espPath: `${dir}/esp`,
      openSlot: (s) => openSlotPath(`${dir}/slot-${s}`),
      slotSize: () => Promise.resolve(4 * MiB),
    },
    runningSlot: () => "a",
    kexecLoad: (p) => Promise.resolve(void staged.push(p)),
    logger: new LogTree().logger("root.update"),
  });
  const req = (o: Record<string, string>) =>
    create(UpdateNodeRequestSchema, {
      activationMode: ActivationMode.KEXEC,
      osImage: {
        scheme: "http",
        host: `127.0.0.1:${reg.port}`,
        repository: "metropolis/node",
        digest: manifestDigest,
        ...o,
      },
    });
  const status = (p: Promise<unknown>) =>
    p.then(() => "OK", (e: RpcError) => {
      assert.ok(e instanceof RpcError && !e.details.includes("\n"), String(e));
      return `${grpc.status[e.code]}: ${e.details}`;
    });
  try {
    assert.match(
      await status(svc.update(req({ digest: "sha256:" + "9".repeat(64) }))),
      /^UNAVAILABLE: failed to fetch OS image: .*not found \(HTTP 404\)$/,
    );
    assert.match(
      await status(svc.update(req({ host: "127.0.0.1:1" }))),
      /^UNAVAILABLE: failed to fetch OS image: registry 127\.0\.0\.1:1 unreachable/,
    );
    assert.match(
      await status(svc.update(req({ digest: "latest" }))),
      /^INVALID_ARGUMENT: failed to fetch OS image: invalid digest/,
    );
    assert.equal(
      (await Deno.readFile(`${dir}/slot-b`)).some((b) => b !== 0),
      false,
      "nothing written yet",
    );
    assert.equal(await status(svc.update(req({}))), "OK");
    assert.deepEqual((await Deno.readFile(`${dir}/slot-b`)).subarray(0, system.length), system);
    assert.deepEqual(staged, [`${dir}/esp/EFI/metropolis/boot-b.efi`]);
    assert.equal(await Deno.readTextFile(staged[0]), "B");
  } finally {
    await reg.close();
    await Deno.remove(dir, { recursive: true });
  }
});
