import assert from "node:assert/strict";
import { renderKubeconfig } from "./kubeconfig.ts";

Deno.test("kubeconfig: inline data, https only", () => {
  const kc = JSON.parse(renderKubeconfig({
    server: "https://127.0.0.1:6443",
    caPem: "CA",
    certPem: "C",
    keyPem: "K",
  }));
  assert.equal(kc.clusters[0].cluster["certificate-authority-data"], btoa("CA"));
  assert.equal(kc.users[0].user["client-key-data"], btoa("K"));
  assert.throws(
    () => renderKubeconfig({ server: "http://x:1", caPem: "", certPem: "", keyPem: "" }),
    /server must be https/,
  );
});
