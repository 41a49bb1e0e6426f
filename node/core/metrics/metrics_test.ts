/**
 * Metrics service (node.md §17) over real TLS with a real node_exporter: owner certificate gets
 * the proxied node metrics; no certificate, a node certificate and a foreign-CA certificate are
 * refused; unknown exporter 404; exporter not running 503; `core` and `/discovery`.
 */
import assert from "node:assert/strict";
import * as https from "node:https";
import * as net from "node:net";
import type { PeerCertificate } from "node:tls";
import { Buffer } from "node:buffer";
import { LogTree } from "../../base/logtree/logtree.ts";
import { certificatePem, exportPkcs8Pem } from "../../base/pki/mod.ts";
import { run, signal, Supervisor, untilAborted } from "../../base/supervisor/supervisor.ts";
import { waitUntil } from "../../base/supervisor/testing.ts";
import { testCA, type TestCert, testNodeCert, testUserCert } from "../identity/testing.ts";
import { findNodeExporter, nodeExporterArgv, runNodeExporter } from "./node_exporter.ts";
import { coreMetrics, runMetrics } from "./server.ts";

/** A free loopback TCP port (bound and released). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

interface Reply {
  status: number;
  body: string;
}

/**
 * GET over mTLS the way an external client must do it: trust the cluster CA, servername = the
 * node ID (the node certificate's only DNS SAN; Deno refuses IP servernames).
 */
async function get(
  port: number,
  path: string,
  o: { caDer: Uint8Array; nodeId: string; client?: TestCert },
): Promise<Reply> {
  const key = o.client ? await exportPkcs8Pem(o.client.privateKey) : undefined;
  return await new Promise((resolve, reject) => {
    const req = https.request({
      host: "127.0.0.1",
      port,
      path,
      method: "GET",
      servername: o.nodeId,
      ca: certificatePem(o.caDer),
      cert: o.client ? certificatePem(o.client.certificate) : undefined,
      key,
      agent: false,
      checkServerIdentity: (_host: string, cert: PeerCertificate) => {
        const san = cert.subjectaltname ?? "";
        return san.split(", ").includes(`DNS:${o.nodeId}`)
          ? undefined
          : new Error(`server is not ${o.nodeId} (${san})`);
      },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on(
        "end",
        () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }),
      );
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}

Deno.test("metrics: mTLS access control and exporter proxying with a real node_exporter", async () => {
  const ca = testCA();
  const caDer = await ca.certificate();
  const server = await testNodeCert(ca);
  const otherNode = await testNodeCert(ca);
  const owner = await testUserCert(ca, "owner");
  const foreign = await testUserCert(testCA(), "owner");
  const nePort = await freePort();
  const deadPort = await freePort(); // nothing listens here: "etcd not running on this node"
  // A stand-in containerd: it serves its metrics at /v1/metrics only, as containerd does.
  const containerdStop = new AbortController();
  const containerd = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: containerdStop.signal, onListen: () => {} },
    (r) =>
      new URL(r.url).pathname === "/v1/metrics"
        ? new Response("containerd_up 1\n")
        : new Response("404 page not found\n", { status: 404 }),
  );

  const tree = new LogTree();
  const listening = Promise.withResolvers<number>();
  const sup = new Supervisor(tree, async (ctx) => {
    run(ctx, "node-exporter", (c) => runNodeExporter(c, { port: nePort }));
    run(ctx, "metrics", (c) =>
      runMetrics(c, {
        certificate: server.certificate,
        privateKey: server.privateKey,
        clusterCA: caDer,
        port: 0,
        host: "127.0.0.1",
        exporters: { node: nePort, etcd: deadPort, containerd: containerd.addr.port },
        discovery: () => [{ targets: [`${server.id}:7840`], labels: { node_id: server.id } }],
        onListening: (p) => listening.resolve(p),
      }));
    signal(ctx, "healthy");
    await untilAborted(ctx);
  }, { onRootExit: () => {} });
  try {
    const port = await listening.promise;
    await waitUntil(() => sup.state("root.metrics") === "HEALTHY", "metrics healthy", 10_000);
    await waitUntil(
      () => sup.state("root.node-exporter") === "HEALTHY",
      "node_exporter healthy",
      20_000,
    );
    const base = { caDer, nodeId: server.id };

    const node = await get(port, "/metrics/node", { ...base, client: owner });
    assert.equal(node.status, 200, node.body.slice(0, 200));
    assert.match(node.body, /^node_uname_info\{/m);

    const core = await get(port, "/metrics/core", { ...base, client: owner });
    assert.equal(core.status, 200);
    assert.match(core.body, /^metropolis_agent_up 1$/m);
    assert.match(core.body, /^process_resident_memory_bytes [1-9][0-9]*$/m);

    const cd = await get(port, "/metrics/containerd", { ...base, client: owner });
    assert.equal(cd.status, 200, cd.body);
    assert.match(cd.body, /^containerd_up 1$/m);

    const unknown = await get(port, "/metrics/nonexistent", { ...base, client: owner });
    assert.equal(unknown.status, 404);
    assert.match(unknown.body, /unknown exporter "nonexistent"/);

    const etcd = await get(port, "/metrics/etcd", { ...base, client: owner });
    assert.equal(etcd.status, 503);
    assert.match(etcd.body, /etcd is not running/);

    const disc = await get(port, "/discovery", { ...base, client: owner });
    assert.equal(disc.status, 200);
    assert.deepEqual(JSON.parse(disc.body), [{
      targets: [`${server.id}:7840`],
      labels: { node_id: server.id },
    }]);

    const none = await get(port, "/metrics/node", base);
    assert.equal(none.status, 401);
    assert.match(none.body, /client certificate required/);

    const nodeClient = await get(port, "/metrics/node", { ...base, client: otherNode });
    assert.equal(nodeClient.status, 403);
    assert.match(nodeClient.body, /EKU clientAuth/);

    const foreignClient = await get(port, "/metrics/node", { ...base, client: foreign });
    assert.equal(foreignClient.status, 403);
    assert.match(foreignClient.body, /not signed by the CA/);

    // The client side pins the node ID: a wrong expected ID fails the handshake.
    await assert.rejects(
      get(port, "/metrics/core", { caDer, nodeId: otherNode.id, client: owner }),
      /server is not/,
    );
  } finally {
    await sup.stop();
    containerdStop.abort();
    await containerd.finished;
  }
  // Stopped: the port is closed and node_exporter is gone.
  await assert.rejects(fetch(`http://127.0.0.1:${nePort}/metrics`));
});

Deno.test("metrics: node_exporter argv and binary lookup", () => {
  const argv = nodeExporterArgv("/x/node_exporter", 7841);
  assert.equal(argv[0], "/x/node_exporter");
  assert.ok(argv.includes("--web.listen-address=127.0.0.1:7841"));
  assert.ok(argv.includes("--no-collector.systemd"));
  assert.throws(() => nodeExporterArgv("/x", 0), /invalid node_exporter port 0/);
  assert.throws(() => findNodeExporter(["/nonexistent/a", "/nonexistent/b"]), /not found/);
  assert.equal(findNodeExporter(["/nonexistent/a", Deno.execPath()]), Deno.execPath());
});

Deno.test("metrics: invalid exporter port is a clear error", async () => {
  const tree = new LogTree();
  const failed = Promise.withResolvers<string>();
  const ca = testCA();
  const server = await testNodeCert(ca);
  const sup = new Supervisor(tree, async (ctx) => {
    try {
      await runMetrics(ctx, {
        certificate: server.certificate,
        privateKey: server.privateKey,
        clusterCA: await ca.certificate(),
        port: 0,
        exporters: { node: 70000 },
      });
    } catch (e) {
      failed.resolve((e as Error).message);
    }
    await untilAborted(ctx);
  }, { onRootExit: () => {} });
  try {
    assert.equal(await failed.promise, 'metrics: exporter "node" has invalid port 70000');
  } finally {
    await sup.stop();
  }
});

Deno.test("metrics: core metrics split the agent's memory into RSS, V8 heap and external", () => {
  const text = coreMetrics();
  for (
    const name of [
      "process_resident_memory_bytes",
      "process_heap_used_bytes",
      "process_heap_total_bytes",
      "process_external_memory_bytes",
    ]
  ) {
    const m = new RegExp(`^${name} (\\d+)$`, "m").exec(text);
    assert.ok(m && Number(m[1]) > 0, `${name} missing or zero`);
  }
});
