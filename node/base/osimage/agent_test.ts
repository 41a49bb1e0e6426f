import assert from "node:assert/strict";
import { AGENT_DENO_ARGS, agentArgv, IMAGE_AGENT, initAgentArgvC } from "./agent.ts";

Deno.test("agent argv: deno, the Deno arguments, the entry point, then the agent's flags", () => {
  assert.deepEqual(agentArgv("/d", "/a.js", ["--x"]), ["/d", ...AGENT_DENO_ARGS, "/a.js", "--x"]);
  assert.ok(AGENT_DENO_ARGS.includes("--cached-only"), "a node never fetches modules");
});

Deno.test("agent argv: /init's built-in list is the image's paths as C string literals", () => {
  const c = initAgentArgvC();
  assert.equal(
    c,
    [IMAGE_AGENT.deno, ...AGENT_DENO_ARGS, IMAGE_AGENT.entry].map((a) => `"${a}"`).join(", "),
  );
});
