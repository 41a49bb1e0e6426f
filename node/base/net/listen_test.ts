import assert from "node:assert/strict";
import net from "node:net";
import { listenDualStack } from "./listen.ts";

Deno.test("listenDualStack: binds a free port; a taken port is the caller's error", async () => {
  const a = net.createServer();
  const port = await listenDualStack(a, 0, "127.0.0.1");
  assert.ok(port > 0);
  const b = net.createServer();
  await assert.rejects(listenDualStack(b, port, "127.0.0.1"), /EADDRINUSE|address already in use/i);
  await new Promise((r) => a.close(r));
  b.close();
});
