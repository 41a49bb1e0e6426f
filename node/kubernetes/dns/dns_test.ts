/**
 * The DNS runnable end to end over real sockets on 127.0.0.1: a fake apiserver feeds Services
 * and EndpointSlices, a fake upstream resolver answers forwarded names.
 */
import assert from "node:assert/strict";
import dgram from "node:dgram";
import { LogTree } from "../../base/logtree/logtree.ts";
import { run, signal, Supervisor, untilAborted } from "../../base/supervisor/supervisor.ts";
import { waitUntil } from "../../base/supervisor/testing.ts";
import { decodeMessage, type Message, queryMessage, RCODE, TYPE } from "./message.ts";
import { serveClusterDns } from "./dns.ts";
import { FakeKube, fakeUpstream } from "./testing.ts";

const SVC = "/api/v1/services";
const EPS = "/apis/discovery.k8s.io/v1/endpointslices";

async function freePort(): Promise<number> {
  const s = dgram.createSocket("udp4");
  await new Promise<void>((r) => s.bind(0, "127.0.0.1", () => r()));
  const p = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return p;
}

function query(name: string, type: number = TYPE.A, id = 4242): Uint8Array {
  return queryMessage(name, type, { id });
}

async function askUdp(port: number, q: Uint8Array): Promise<Message> {
  const s = dgram.createSocket("udp4");
  try {
    return await new Promise<Message>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error("no UDP reply")), 5000);
      s.on("message", (m) => {
        clearTimeout(t);
        resolve(decodeMessage(new Uint8Array(m)));
      });
      s.send(q, port, "127.0.0.1");
    });
  } finally {
    s.close();
  }
}

async function askTcp(port: number, q: Uint8Array): Promise<Message> {
  const c = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await c.write(new Uint8Array([q.length >> 8, q.length & 0xff, ...q]));
    const buf: number[] = [];
    const chunk = new Uint8Array(65537);
    while (buf.length < 2 || buf.length < 2 + ((buf[0] << 8) | buf[1])) {
      const n = await c.read(chunk);
      if (n === null) throw new Error("TCP closed early");
      buf.push(...chunk.subarray(0, n));
    }
    return decodeMessage(new Uint8Array(buf.slice(2)));
  } finally {
    c.close();
  }
}

const service = (name: string, ip: string) => ({
  metadata: { name, namespace: "default" },
  spec: { type: "ClusterIP", clusterIP: ip, clusterIPs: [ip], ports: [{ name: "http", port: 80 }] },
});

Deno.test("cluster DNS serves services over UDP and TCP, follows watches and forwards the rest", async () => {
  const kube = new FakeKube();
  kube.emit(SVC, "ADDED", service("kubernetes", "10.224.0.1"));
  const [port, upPort] = [await freePort(), await freePort()];
  const upstream = await fakeUpstream(upPort);
  const resolvConf = await Deno.makeTempFile();
  await Deno.writeTextFile(resolvConf, "nameserver 127.0.0.1\n");
  const tree = new LogTree();
  const sup = new Supervisor(tree, async (ctx) => {
    run(
      ctx,
      "dns",
      serveClusterDns({
        client: kube.client,
        resolvConf,
        listen: "127.0.0.1",
        port,
        upstreamPort: upPort,
      }),
    );
    signal(ctx, "healthy");
    await untilAborted(ctx);
  }, { onRootExit: () => {} });
  try {
    await waitUntil(() => sup.state("root.dns") === "HEALTHY", "dns healthy");

    const a = await askUdp(port, query("kubernetes.default.svc.cluster.local"));
    assert.equal(a.id, 4242);
    assert.deepEqual(a.answers.map((r) => r.data), [{ kind: "a", address: "10.224.0.1" }]);
    const t = await askTcp(port, query("kubernetes.default.svc.cluster.local", TYPE.A, 7));
    assert.equal(t.id, 7);
    assert.deepEqual(t.answers.map((r) => r.data), [{ kind: "a", address: "10.224.0.1" }]);

    // A new Service arrives through the watch.
    assert.equal(
      (await askUdp(port, query("web.default.svc.cluster.local"))).rcode,
      RCODE.NXDOMAIN,
    );
    await waitUntil(() => kube.watchers(SVC) === 1, "service watch");
    kube.emit(SVC, "ADDED", service("web", "10.224.0.20"));
    let web: Message | undefined;
    for (let i = 0; i < 50 && !web?.answers.length; i++) {
      web = await askUdp(port, query("web.default.svc.cluster.local"));
    }
    assert.deepEqual(web!.answers.map((r) => r.data), [{ kind: "a", address: "10.224.0.20" }]);

    // 410 Gone: the informer lists again and keeps serving.
    const lists = kube.lists.filter((p) => p === SVC).length;
    kube.endWatches(SVC, "gone");
    await waitUntil(() => kube.lists.filter((p) => p === SVC).length === lists + 1, "relist");
    kube.emit(SVC, "DELETED", service("web", "10.224.0.20"));
    let gone = RCODE.NOERROR as number;
    for (let i = 0; i < 50 && gone !== RCODE.NXDOMAIN; i++) {
      gone = (await askUdp(port, query("web.default.svc.cluster.local"))).rcode;
    }
    assert.equal(gone, RCODE.NXDOMAIN);

    // Not ours: relayed to the upstream, with the client's id.
    const f = await askUdp(port, query("example.com", TYPE.A, 99));
    assert.equal(f.id, 99);
    assert.deepEqual(f.answers.map((r) => r.data), [{ kind: "a", address: "192.0.2.1" }]);
    const ft = await askTcp(port, query("example.org", TYPE.A, 98));
    assert.equal(ft.id, 98);
    assert.deepEqual(ft.answers.map((r) => r.data), [{ kind: "a", address: "192.0.2.1" }]);
    assert.equal(upstream.tcpQueries, 1, "TCP clients are forwarded over TCP");

    // No upstream left: SERVFAIL rather than silence.
    await Deno.writeTextFile(resolvConf, "");
    assert.equal((await askUdp(port, query("example.net"))).rcode, RCODE.SERVFAIL);
  } finally {
    await sup.stop();
    upstream.close();
    await Deno.remove(resolvConf);
  }
});

Deno.test("cluster DNS fails (for the supervisor to restart) when the apiserver refuses", async () => {
  const kube = new FakeKube();
  kube.handlers.set(`GET ${EPS}`, () => {
    throw new Error("connection refused");
  });
  const port = await freePort();
  const tree = new LogTree();
  const sup = new Supervisor(tree, async (ctx) => {
    run(
      ctx,
      "dns",
      serveClusterDns({ client: kube.client, listen: "127.0.0.1", port, upstreamPort: 53 }),
    );
    signal(ctx, "healthy");
    await untilAborted(ctx);
  }, { onRootExit: () => {} });
  try {
    await waitUntil(() => sup.state("root.dns") === "DEAD", "dns dead");
  } finally {
    await sup.stop();
  }
});
