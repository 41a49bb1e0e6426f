/**
 * Acceptance of the control plane (issue "Control plane"): an independent gRPC client — Debian's
 * Python grpcio with stubs generated from our proto/ — takes ownership through AAA.Escrow and
 * lists the bootstrap node with the filter `node.state == NODE_STATE_UP` over mutual TLS.
 */
import assert from "node:assert/strict";
import { certificatePem } from "../../base/pki/info.ts";
import { exportPkcs8Pem, rawPublicKey, toHex } from "../../base/pki/keys.ts";
import { ephemeralCertificate } from "../identity/profiles.ts";
import { startTestCurator } from "./testing.ts";

const PY = "/usr/bin/python3";
const PROTO_ROOT = new URL("../../../proto", import.meta.url).pathname;

const havePython = (() => {
  try {
    return new Deno.Command(PY, { args: ["-c", "import grpc, grpc_tools.protoc"] }).outputSync()
      .success;
  } catch {
    return false;
  }
})();

const CLIENT = `
import json, ssl, sys
sys.path.insert(0, sys.argv[1])
import grpc
from metropolis.proto.api import aaa_pb2, aaa_pb2_grpc, management_pb2, management_pb2_grpc
target, node_id, d = sys.argv[2], sys.argv[3], sys.argv[4]
rd = lambda n: open(d + "/" + n, "rb").read()
opts = [("grpc.ssl_target_name_override", node_id)]
eph = grpc.ssl_channel_credentials(rd("ca.pem"), rd("owner-key.pem"), rd("ephemeral.pem"))
aaa = aaa_pb2_grpc.AAAStub(grpc.secure_channel(target, eph, opts))
req = aaa_pb2.EscrowRequest(parameters=aaa_pb2.EscrowRequest.Parameters(
    requested_identity_name="owner", public_key=bytes.fromhex(sys.argv[5])))
cert = [r.emitted_certificate for r in aaa.Escrow(iter([req])) if r.emitted_certificate][0]
owner = grpc.ssl_channel_credentials(rd("ca.pem"), rd("owner-key.pem"),
    ssl.DER_cert_to_PEM_cert(cert).encode())
mgmt = management_pb2_grpc.ManagementStub(grpc.secure_channel(target, owner, opts))
nodes = mgmt.GetNodes(management_pb2.GetNodesRequest(filter="node.state == NODE_STATE_UP"))
print(json.dumps([{"id": n.id, "state": n.state} for n in nodes]))
`;

Deno.test({
  name: "interop: Python grpcio takes ownership and lists UP nodes",
  ignore: !havePython,
  async fn() {
    const c = await startTestCurator();
    const dir = await Deno.makeTempDir({ prefix: "metropolis-pyinterop-" });
    try {
      // Generate Python messages with Debian's protoc and gRPC stubs with grpc_tools. The latter
      // bundles libprotoc 3.5.1, which predates proto3 `optional`: it gets copies without them.
      const src = `${dir}/src`;
      const gen = `${dir}/gen`;
      await Deno.mkdir(gen, { recursive: true });
      const files: string[] = [];
      const walk = async (d: string, rel: string) => {
        for await (const e of Deno.readDir(d)) {
          if (e.isDirectory && e.name !== "gen") await walk(`${d}/${e.name}`, `${rel}${e.name}/`);
          if (e.isFile && e.name.endsWith(".proto")) files.push(`${rel}${e.name}`);
        }
      };
      await walk(PROTO_ROOT, "");
      for (const f of files) {
        const text = await Deno.readTextFile(`${PROTO_ROOT}/${f}`);
        await Deno.mkdir(`${src}/${f.replace(/\/[^/]*$/, "")}`, { recursive: true });
        await Deno.writeTextFile(`${src}/${f}`, text.replace(/^(\s*)optional\s+/gm, "$1"));
      }
      const protoc = await new Deno.Command("protoc", {
        args: [`-I${PROTO_ROOT}`, "-I/usr/include", `--python_out=${gen}`, ...files],
      }).output();
      assert.ok(protoc.success, new TextDecoder().decode(protoc.stderr));
      const grpcGen = await new Deno.Command(PY, {
        args: ["-m", "grpc_tools.protoc", `-I${src}`, "-I/usr/include", `--grpc_python_out=${gen}`]
          .concat(files.filter((f) => f.includes("/api/"))),
      }).output();
      assert.ok(grpcGen.success, new TextDecoder().decode(grpcGen.stderr));

      await Deno.writeTextFile(`${dir}/ca.pem`, certificatePem(c.caCertificate));
      await Deno.writeTextFile(
        `${dir}/owner-key.pem`,
        await exportPkcs8Pem(c.ownerKeys.privateKey),
      );
      await Deno.writeTextFile(
        `${dir}/ephemeral.pem`,
        certificatePem(await ephemeralCertificate(c.ownerKeys)),
      );
      const out = await new Deno.Command(PY, {
        args: [
          "-c",
          CLIENT,
          gen,
          c.target,
          c.nodeId,
          dir,
          toHex(await rawPublicKey(c.ownerKeys.publicKey)),
        ],
        env: { PYTHONPATH: gen },
      }).output();
      assert.ok(out.success, new TextDecoder().decode(out.stderr));
      const nodes = JSON.parse(new TextDecoder().decode(out.stdout));
      assert.deepEqual(nodes, [{ id: c.nodeId, state: 3 }]);
    } finally {
      await c.stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
