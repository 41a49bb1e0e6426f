import assert from "node:assert/strict";
import { runConsole } from "./console.ts";
import { LogTree } from "./logtree.ts";

Deno.test("§5 console: concise leveled lines of every DN plus raw lines of root.kernel only", async () => {
  const t = new LogTree();
  t.logger("root.enrolment").info("before start");
  t.logRaw("stdout", "agent stdout is not on the console");
  const out: string[] = [];
  const ac = new AbortController();
  const done = runConsole(t, (s) => {
    out.push(s);
  }, { signal: ac.signal });
  await new Promise((r) => setTimeout(r, 1));
  t.logRaw("root.kernel", "[    0.000000] Linux version");
  t.logger("root.network").warning("no link\nretrying");
  await new Promise((r) => setTimeout(r, 1));
  ac.abort();
  await done;
  assert.deepEqual(out, [
    "      root.enrolment I before start\n",
    "         root.kernel R [    0.000000] Linux version\n",
    "        root.network W no link\n                     | retrying\n",
  ]);
  assert.equal(t.readerCount, 0);
});
