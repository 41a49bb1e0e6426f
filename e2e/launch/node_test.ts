/** Tier 1: the namespace node's command line (testing.md §2.2). */
import assert from "node:assert/strict";
import { AGENT_ENTRY, NamespaceNode } from "./node.ts";

const base = {
  index: 4,
  dir: "/tmp/s/nodes/4",
  netns: "metro-metro0-4",
  init: "/cache/init",
  allowReboot: false,
  echo: false,
};

Deno.test("node argv: setsid, netns, unshare namespaces, /init --, agent flags", () => {
  const argv = new NamespaceNode({ ...base, tpm: true }).argv();
  assert.deepEqual(argv.slice(0, 16), [
    "setsid",
    "ip",
    "netns",
    "exec",
    "metro-metro0-4",
    "unshare",
    "--pid",
    "--fork",
    "--kill-child",
    "--mount",
    "--uts",
    "--ipc",
    "--propagation",
    "private",
    "/cache/init",
    "--",
  ]);
  assert.deepEqual(argv.slice(16), [
    Deno.execPath(),
    "run",
    "-A",
    "--no-prompt",
    AGENT_ENTRY,
    "--platform=namespace",
    "--state=/tmp/s/nodes/4",
    "--tpm-socket=/tmp/s/nodes/4/tpm/sock",
  ]);
  const noTpm = new NamespaceNode({ ...base, tpm: false }).argv();
  assert.ok(!noTpm.some((a) => a.startsWith("--tpm-socket")));
});

Deno.test("node argv: agentCommand replaces the agent, {state} and {i} substituted", () => {
  const argv = new NamespaceNode({
    ...base,
    tpm: false,
    agentCommand: ["/bin/stand-in", "{i}", "--dir={state}"],
  }).argv();
  assert.deepEqual(argv.slice(-3), ["/bin/stand-in", "4", "--dir=/tmp/s/nodes/4"]);
});
