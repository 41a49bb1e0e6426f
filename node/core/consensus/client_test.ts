import assert from "node:assert/strict";
import { Etcd3 } from "etcd3";
import { KV } from "./kv.ts";
import { etcdClient } from "./client.ts";
import { startTestEtcd } from "./testing.ts";

/** The message of the library's breaker when it refuses a call without trying the host. */
const BROKEN = /circuit breaker is open/i;

async function failures(client: Etcd3, n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    out.push(await new KV(client).revision().then(() => "ok", (e) => String(e?.message ?? e)));
  }
  return out;
}

Deno.test("etcd client: calls after failures still go to etcd, and succeed once it serves", async () => {
  const dir = await Deno.makeTempDir({ prefix: "metropolis-etcd-client-" });
  const endpoint = `unix://${dir}/m.client.sock:0`;
  const ours = etcdClient(endpoint, { dialTimeout: 300 });
  // The library's default: the control that shows what the test tells apart.
  const library = new Etcd3({ hosts: endpoint, dialTimeout: 300 });
  try {
    const errs = await failures(ours, 4);
    assert.ok(errs.every((e) => e !== "ok" && !BROKEN.test(e)), errs.join(" | "));
    assert.match((await failures(library, 4)).at(-1)!, BROKEN, "control: the default breaker");
    const etcd = await startTestEtcd({ name: "m", cluster: { dir, names: ["m"] } });
    try {
      assert.ok(await new KV(ours).revision() > 0n, "served at once after etcd came up");
      assert.match((await failures(library, 1))[0], BROKEN, "control: still open");
    } finally {
      await etcd.stop();
    }
  } finally {
    ours.close();
    library.close();
    await Deno.remove(dir, { recursive: true });
  }
});
