import assert from "node:assert/strict";
import { create, toBinary } from "@bufbuild/protobuf";
import { NodeParametersSchema } from "../../../proto/gen/metropolis/proto/api/configuration_pb.ts";
import { writeFileDurable } from "../../base/sys/durable.ts";
import { hasSealedConfigurationFile, waitForNodeParameters } from "./esp.ts";
import { ESP_FILES } from "./paths.ts";

const params = (ticket: number) =>
  toBinary(
    NodeParametersSchema,
    create(NodeParametersSchema, {
      cluster: { case: "clusterRegister", value: { registerTicket: new Uint8Array([ticket]) } },
    }),
  );

const ticketOf = (p: Awaited<ReturnType<typeof waitForNodeParameters>>) =>
  p.params.cluster.case === "clusterRegister" ? p.params.cluster.value.registerTicket[0] : -1;

Deno.test("parameters already on the ESP are returned at once", async () => {
  const esp = await Deno.makeTempDir();
  try {
    await writeFileDurable(`${esp}/${ESP_FILES.parameters}`, params(7));
    const p = await waitForNodeParameters(AbortSignal.timeout(5000), esp);
    assert.equal(p.source, "esp");
    assert.equal(ticketOf(p), 7);
  } finally {
    await Deno.remove(esp, { recursive: true });
  }
});

Deno.test("a node without parameters picks them up when they are written later", async () => {
  const esp = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${esp}/metropolis`);
    const waiting = waitForNodeParameters(AbortSignal.timeout(10_000), esp);
    let done = false;
    waiting.then(() => done = true, () => done = true);
    await Deno.writeTextFile(`${esp}/metropolis/unrelated`, "x");
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(done, false);
    await writeFileDurable(`${esp}/${ESP_FILES.parameters}`, params(9));
    assert.equal(ticketOf(await waiting), 9);
  } finally {
    await Deno.remove(esp, { recursive: true });
  }
});

Deno.test("waiting for parameters ends with the abort", async () => {
  const esp = await Deno.makeTempDir();
  try {
    const ac = new AbortController();
    const waiting = waitForNodeParameters(ac.signal, esp);
    ac.abort(new Error("stopping"));
    await assert.rejects(waiting, /stopping/);
  } finally {
    await Deno.remove(esp, { recursive: true });
  }
});

Deno.test("waiting for parameters with an already aborted signal ends at once", async () => {
  const esp = await Deno.makeTempDir();
  try {
    const ac = new AbortController();
    ac.abort(new Error("stopped before"));
    await assert.rejects(waitForNodeParameters(ac.signal, esp), /stopped before/);
  } finally {
    await Deno.remove(esp, { recursive: true });
  }
});

Deno.test("a sealed configuration file is noticed without opening it", async () => {
  const esp = await Deno.makeTempDir();
  try {
    assert.equal(await hasSealedConfigurationFile(esp), false);
    await writeFileDurable(`${esp}/${ESP_FILES.sealedConfiguration}`, new Uint8Array([1]));
    assert.equal(await hasSealedConfigurationFile(esp), true);
  } finally {
    await Deno.remove(esp, { recursive: true });
  }
});
