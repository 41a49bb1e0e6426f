import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { addService, makeClient } from "../../../proto/grpc.ts";
import { Registration } from "../../../proto/gen/third_party/pluginregistration/v1/api_pb.ts";
import { LogTree } from "../../base/logtree/logtree.ts";
import { grpcServer } from "../../base/supervisor/grpc.ts";
import { run, signal, Supervisor, untilAborted } from "../../base/supervisor/supervisor.ts";
import { waitUntil } from "../../base/supervisor/testing.ts";
import { unixListener } from "./unix.ts";

Deno.test("unix gRPC listener: serves calls on the socket (mode 0600), survives clients closing, removes the socket on stop", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/sub/reg.sock`;
  // A stale socket file from an earlier run is replaced.
  await Deno.mkdir(`${dir}/sub`);
  await Deno.writeTextFile(path, "stale");
  const server = new grpc.Server();
  let notified = 0;
  addService(server, Registration, {
    getInfo: (_call, cb) =>
      cb(null, { type: "CSIPlugin", name: "x", supportedVersions: ["1.2.0"] }),
    notifyRegistrationStatus: (_call, cb) => {
      notified++;
      cb(null, {});
    },
  });
  const sup = new Supervisor(new LogTree(), async (ctx) => {
    run(ctx, "rpc", grpcServer(server, unixListener(path), false));
    signal(ctx, "healthy");
    await untilAborted(ctx);
  });
  try {
    await waitUntil(
      () => {
        try {
          return Deno.statSync(path).isSocket === true;
        } catch {
          return false;
        }
      },
      "socket listening",
      5000,
    );
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    // Each client closes its channel (grpc-js sends GOAWAY, as Go clients do); the server goes on.
    for (let i = 0; i < 3; i++) {
      const c = makeClient(Registration, `unix://${path}`, grpc.credentials.createInsecure());
      try {
        const info = await c.getInfo({});
        assert.deepEqual(info.supportedVersions, ["1.2.0"]);
        await c.notifyRegistrationStatus({ pluginRegistered: true });
      } finally {
        c.close();
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(notified, 3);
  } finally {
    await sup.stop();
  }
  await assert.rejects(Deno.stat(path), Deno.errors.NotFound);
  await Deno.remove(dir, { recursive: true });
});
