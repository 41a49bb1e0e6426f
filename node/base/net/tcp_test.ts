import assert from "node:assert/strict";
import { dialTcp } from "./tcp.ts";

Deno.test("dialTcp: succeeds against a listener and fails against a closed port", async () => {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  const accepted = (async () => {
    const c = await l.accept();
    c.close();
  })();
  try {
    assert.equal(await dialTcp("127.0.0.1", port, 1000), true);
    await accepted;
  } finally {
    l.close();
  }
  assert.equal(await dialTcp("127.0.0.1", port, 1000), false, "refused once closed");
});
