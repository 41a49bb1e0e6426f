import assert from "node:assert/strict";
import { enrolmentPath } from "./path.ts";

const CA = new Uint8Array([1, 2, 3]);

Deno.test("enrolment path: a sealed configuration with the cluster CA joins, whatever the parameters say", () => {
  for (const params of ["clusterBootstrap", "clusterRegister", undefined] as const) {
    assert.deepEqual(enrolmentPath({ sealedClusterCa: CA, params }), { flow: "join" });
  }
});

Deno.test("enrolment path: no sealed configuration → the parameters' flow", () => {
  assert.deepEqual(enrolmentPath({ params: "clusterBootstrap" }), {
    flow: "bootstrap",
    again: false,
  });
  assert.deepEqual(enrolmentPath({ params: "clusterRegister" }), { flow: "register" });
});

Deno.test("enrolment path: a bootstrap that broke off (sealed, no CA) starts again from the beginning", () => {
  assert.deepEqual(
    enrolmentPath({ sealedClusterCa: new Uint8Array(), params: "clusterBootstrap" }),
    { flow: "bootstrap", again: true },
  );
});

Deno.test("enrolment path: a broken-off bootstrap without bootstrap parameters is refused with the reason", () => {
  for (const params of ["clusterRegister", undefined] as const) {
    const p = enrolmentPath({ sealedClusterCa: new Uint8Array(), params });
    assert.equal(p.flow, "refuse");
    assert.match((p as { reason: string }).reason, /bootstrap that did not finish.*reinstall/);
  }
});

Deno.test("enrolment path: neither sealed configuration nor parameters is refused", () => {
  const p = enrolmentPath({});
  assert.equal(p.flow, "refuse");
  assert.match((p as { reason: string }).reason, /neither cluster_bootstrap nor cluster_register/);
});
