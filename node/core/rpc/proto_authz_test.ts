/**
 * The authorizer with the generated descriptors (proto/grpc.ts `authorizationOf`) and generated
 * services over real TLS: the per-method policy comes from the `metropolis.proto.ext` option.
 */
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { authorizationOf, makeClient, serviceDefinition } from "../../../proto/grpc.ts";
import { CuratorLocal } from "../../../proto/gen/metropolis/node/core/curator/proto/api/api_pb.ts";
import { Management } from "../../../proto/gen/metropolis/proto/api/management_pb.ts";
import { testCA, testNodeCert, testUserCert } from "../identity/testing.ts";
import { Authorizer, authorizeService, callerOf, connectionParams, RpcServer } from "./mod.ts";

// deno-lint-ignore no-explicit-any
type Any = any;

Deno.test("generated policies: open, node permission, user-only permission, unimplemented", async () => {
  const ca = testCA();
  const caDer = await ca.certificate();
  const srv = await testNodeCert(ca);
  const node = await testNodeCert(ca);
  const owner = await testUserCert(ca, "owner");
  const server = new RpcServer({ certificate: srv.certificate, privateKey: srv.privateKey });
  const authz = new Authorizer({
    authorizationOf,
    peerCertificates: (p) => server.peerCertificates(p),
    clusterCA: caDer,
  });
  const localDef = serviceDefinition(CuratorLocal);
  server.grpc.addService(
    localDef,
    authorizeService(localDef, {
      getCACertificate: (_c: Any, cb: Any) => cb(null, { identityCaCertificate: caDer }),
    }, authz),
  );
  const mgmtDef = serviceDefinition(Management);
  server.grpc.addService(
    mgmtDef,
    authorizeService(mgmtDef, {
      getClusterInfo: (call: Any, cb: Any) => {
        const c = callerOf(call);
        cb(null, { clusterDirectory: { nodes: [{ id: c.kind === "node" ? c.nodeId : "-" }] } });
      },
      approveNode: (_c: Any, cb: Any) => cb(null, {}),
    }, authz),
  );
  const port = await server.listen(0, "127.0.0.1");
  const open = async (identity?: typeof owner) => {
    const p = await connectionParams(`127.0.0.1:${port}`, { ca: caDer, nodeId: srv.id, identity });
    return {
      local: makeClient(CuratorLocal, p.address, p.credentials, p.options),
      mgmt: makeClient(Management, p.address, p.credentials, p.options),
    };
  };
  const code = async (p: Promise<unknown>, c: grpc.status) =>
    await assert.rejects(p, (e: Any) => {
      assert.equal(e.code, c, e.details);
      return true;
    });
  const anon = await open();
  const asNode = await open(node);
  const asOwner = await open(owner);
  try {
    assert.deepEqual((await anon.local.getCACertificate({})).identityCaCertificate, caDer);
    await code(anon.mgmt.getClusterInfo({}), grpc.status.UNAUTHENTICATED);
    const info = await asNode.mgmt.getClusterInfo({});
    assert.equal(info.clusterDirectory?.nodes[0].id, node.id);
    await code(asNode.mgmt.approveNode({}), grpc.status.PERMISSION_DENIED);
    await asOwner.mgmt.approveNode({});
    // A method with a policy but no handler: grpc-js answers UNIMPLEMENTED.
    const stream = asOwner.mgmt.getNodes({}) as Any;
    await code(
      new Promise((resolve, reject) => {
        stream.on("data", () => {});
        stream.on("error", reject);
        stream.on("end", resolve);
      }),
      grpc.status.UNIMPLEMENTED,
    );
  } finally {
    for (const c of [anon, asNode, asOwner]) {
      c.local.close();
      c.mgmt.close();
    }
    await server.shutdown(false);
  }
});
