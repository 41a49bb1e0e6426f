/**
 * The connectivity matrix of the kubernetes suite (issue: NetworkPolicy and connectivity): pods
 * of the preseeded `connectivity` image in namespace `connectivity` — a listener on each of the
 * two workers and a client next to the first — and checks run from the client (`kubectl exec`
 * of the image's prober, all checks of a round in parallel) and from the launcher host:
 *
 * | check          | path                                                                |
 * |----------------|---------------------------------------------------------------------|
 * | `same-node`    | client → listener pod on its own node                               |
 * | `cross-node`   | client → listener pod on the other worker                           |
 * | `clusterip`    | client → the Service's ClusterIP                                    |
 * | `nodeport-pod` | client → the other worker's address : NodePort                      |
 * | `nodeport-host`| launcher host → first worker's address : NodePort                   |
 * | `outside`      | client → a listener of the launcher host on the bridge gateway      |
 * | `dns-a`        | A of the Service name = its ClusterIP                               |
 * | `dns-srv`      | SRV `_conn._tcp.<service>` names the port                           |
 * | `dns-ptr`      | PTR of the ClusterIP = the Service name                             |
 * | `dns-nxdomain` | an unknown name under cluster.local is NXDOMAIN                     |
 * | `dns-forward`  | a name outside the cluster is forwarded to the node's resolver (a   |
 * |                | fake resolver of the launcher host on the gateway, put into the     |
 * |                | workers' `/ephemeral/resolv.conf` for these steps)                  |
 *
 * Phases: no policy (everything allowed); default-deny ingress of the listeners; default-deny
 * egress of the client; allow rules by namespace+pod selector, named port, port 53 and an ipBlock
 * with `except`. Each policy phase must show its expected matrix within 30 s of the `kubectl
 * apply` (upstream's policy timeout), and the open matrix again within 30 s of deleting its
 * policies; the times are printed as a table.
 */
import { kubectl } from "../../launch/kubectl.ts";
import type { Cluster } from "../../launch/cluster.ts";
import { netnsName } from "../../launch/net.ts";
import { CONNECTIVITY, IMAGE_REFS } from "../../images/images.ts";
import { fakeUpstream } from "../../../node/kubernetes/dns/testing.ts";
import { NET } from "../../../node/kubernetes/paths.ts";
import { permanent, testEventual } from "../eventual.ts";

// deno-lint-ignore no-explicit-any -- Kubernetes objects are schemaless JSON here
type Obj = Record<string, any>;

/** A worker of the cluster: node ID and launcher index. */
export interface Worker {
  id: string;
  index: number;
}

const NS = "connectivity";
const PORT = 8080;
/** Service port (distinct from the target port, so DNS answers can be told from queries). */
const SVC_PORT = 8081;
/** What the fake upstream resolver answers for every A question (TEST-NET-1). */
const FORWARDED_ANSWER = "192.0.2.1";
/** Upstream's policy timeout. */
const POLICY_TIMEOUT_S = 30;

const CHECKS = [
  "same-node",
  "cross-node",
  "clusterip",
  "nodeport-pod",
  "nodeport-host",
  "outside",
  "dns-a",
  "dns-srv",
  "dns-ptr",
  "dns-nxdomain",
  "dns-forward",
] as const;
type Check = typeof CHECKS[number];
type Matrix = Record<Check, boolean>;

function connPod(name: string, node: string, labels: Record<string, string>, mode: string): Obj {
  const listen = mode === "listen";
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace: NS, labels },
    spec: {
      nodeName: node,
      terminationGracePeriodSeconds: 0,
      containers: [{
        name: "conn",
        image: IMAGE_REFS.connectivity,
        imagePullPolicy: "Never",
        env: [{ name: "MODE", value: mode }, { name: "PORT", value: String(PORT) }],
        ...(listen
          ? {
            ports: [{ name: "conn", containerPort: PORT }],
            // The kubelet's probe comes from the node: it must pass under default-deny too.
            readinessProbe: { tcpSocket: { port: PORT }, periodSeconds: 1 },
          }
          : {}),
      }],
    },
  };
}

const SERVICE = {
  apiVersion: "v1",
  kind: "Service",
  metadata: { name: "server", namespace: NS },
  spec: {
    type: "NodePort",
    selector: { app: "server" },
    ports: [{ name: "conn", port: SVC_PORT, targetPort: "conn", protocol: "TCP" }],
  },
};

function policy(name: string, spec: Obj): Obj {
  return {
    apiVersion: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    metadata: { name, namespace: NS },
    spec,
  };
}

/** The phases after "no policy": policies in force and the expected matrix. */
function phases(gateway: string, otherWorker: string): {
  name: string;
  policies: Obj[];
  denied: Check[];
}[] {
  const fromPods: Check[] = [
    "same-node",
    "cross-node",
    "clusterip",
    "nodeport-pod",
    "outside",
    "dns-a",
    "dns-srv",
    "dns-ptr",
    "dns-nxdomain",
    "dns-forward",
  ];
  return [{
    name: "default-deny ingress of the listeners",
    policies: [policy("deny-servers", {
      podSelector: { matchLabels: { app: "server" } },
      policyTypes: ["Ingress"],
    })],
    denied: ["same-node", "cross-node", "clusterip", "nodeport-pod", "nodeport-host"],
  }, {
    name: "default-deny egress of the client",
    policies: [policy("deny-client", {
      podSelector: { matchLabels: { app: "client" } },
      policyTypes: ["Egress"],
    })],
    denied: fromPods,
  }, {
    name: "allow rules: selectors, named port, DNS port, ipBlock with except",
    policies: [
      policy("servers-from-client", {
        podSelector: { matchExpressions: [{ key: "app", operator: "In", values: ["server"] }] },
        policyTypes: ["Ingress"],
        ingress: [{
          from: [{
            namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": NS } },
            podSelector: { matchLabels: { app: "client" } },
          }],
          ports: [{ port: "conn" }],
        }],
      }),
      policy("client-egress", {
        podSelector: { matchLabels: { app: "client" } },
        policyTypes: ["Egress"],
        egress: [
          { to: [{ podSelector: { matchLabels: { app: "server" } } }], ports: [{ port: "conn" }] },
          { ports: [{ protocol: "UDP", port: 53 }, { protocol: "TCP", port: 53 }] },
          {
            // The launcher's network, but not the other worker: its NodePort stays closed.
            to: [{ ipBlock: { cidr: `${gateway}/24`, except: [`${otherWorker}/32`] } }],
          },
        ],
      }),
    ],
    // nodeport-pod: the other worker's address is excepted; nodeport-host: the listeners admit
    // the client only, and the launcher (or the worker masquerading for it) is not the client.
    denied: ["nodeport-pod", "nodeport-host"],
  }];
}

/** Writes `text` to the node's `/ephemeral/resolv.conf`; returns the previous content. */
async function setResolvConf(netns: string, text: string): Promise<string> {
  const out = await new Deno.Command("ip", { args: ["netns", "pids", netns], stdout: "piped" })
    .output();
  for (const pid of new TextDecoder().decode(out.stdout).split(/\s+/).filter(Boolean)) {
    // Any process of the node shares its mount namespace and root (pods are not in its netns).
    const path = `/proc/${pid}/root/ephemeral/resolv.conf`;
    const old = await Deno.readTextFile(path).catch(() => undefined);
    if (old === undefined) continue;
    await Deno.writeTextFile(path, text);
    return old;
  }
  throw new Error(`no process of ${netns} with /ephemeral/resolv.conf`);
}

/** A TCP listener answering every connection with `connectivity outside`. */
function outsideListener(hostname: string): Deno.TcpListener {
  const l = Deno.listen({ hostname, port: 0 });
  (async () => {
    for await (const conn of l) {
      conn.write(new TextEncoder().encode("connectivity outside\n")).finally(() => conn.close())
        .catch(() => {});
    }
  })().catch(() => {});
  return l;
}

/** True when a TCP connection to `host:port` answers with a `connectivity` line within 3 s. */
async function tcpAnswers(host: string, port: number): Promise<boolean> {
  try {
    const conn = await Deno.connect({ hostname: host, port, signal: AbortSignal.timeout(3000) });
    try {
      const buf = new Uint8Array(256);
      const t = setTimeout(() => conn.close(), 3000);
      const n = await conn.read(buf).catch(() => null);
      clearTimeout(t);
      return !!n && new TextDecoder().decode(buf.subarray(0, n)).includes("connectivity");
    } finally {
      try {
        conn.close();
      } catch { /* closed by the timer */ }
    }
  } catch {
    return false;
  }
}

/**
 * Runs the connectivity matrix on `c` with two workers (the first hosts the client). Leaves no
 * objects and restores the workers' resolv.conf.
 */
export async function networkSteps(c: Cluster, workers: [Worker, Worker]): Promise<void> {
  const k = (args: string[], stdin?: string) => kubectl(`${c.stateDir}/kubectl`, args, stdin);
  const json = async (args: string[]) => JSON.parse(await k([...args, "-o", "json"]));
  const gateway = c.topology.gateway;
  const addr = workers.map((w) => c.nodeAddress(w.index));
  const outside = outsideListener(gateway);
  const upstream = await fakeUpstream(53, gateway);
  const resolv = new Map<string, string>();
  const times: {
    phase: string;
    check: Check;
    expected: string;
    changed: boolean;
    seconds: number;
    detail: string;
  }[] = [];
  /** The state each check had in the previous phase (all allowed before the first). */
  let previous: Set<Check> = new Set();
  try {
    for (const w of workers) {
      const netns = netnsName(c.topology.bridge, w.index);
      resolv.set(netns, await setResolvConf(netns, `nameserver ${gateway}\n`));
    }
    await k(["create", "namespace", NS]);
    for (
      const o of [
        connPod("server-a", workers[0].id, { app: "server" }, "listen"),
        connPod("server-b", workers[1].id, { app: "server" }, "listen"),
        connPod("client", workers[0].id, { app: "client" }, "idle"),
        SERVICE,
      ]
    ) await k(["apply", "-f", "-"], JSON.stringify(o));

    const ips = await testEventual("connectivity pods Ready on both workers", 120, async () => {
      const pods: Obj[] = (await json(["get", "pods", "-n", NS])).items;
      const byName = new Map(pods.map((p) => [p.metadata.name, p]));
      for (const n of ["server-a", "server-b", "client"]) {
        const p = byName.get(n);
        if (p?.status?.phase === "Failed") throw permanent(`${n} failed`);
        const ready = (p?.status?.conditions ?? []).some((x: Obj) =>
          x.type === "Ready" && x.status === "True"
        );
        if (!ready || !p?.status?.podIP) throw new Error(`${n} not Ready`);
      }
      return {
        a: byName.get("server-a")!.status.podIP as string,
        b: byName.get("server-b")!.status.podIP as string,
      };
    });
    const svc = await json(["get", "service", "-n", NS, "server"]);
    const clusterIP = svc.spec.clusterIP as string;
    const nodePort = svc.spec.ports[0].nodePort as number;
    const fqdn = `server.${NS}.svc.${NET.clusterDomain}.`;
    const podChecks: Partial<Record<Check, string>> = {
      "same-node": `tcp:${ips.a}:${PORT}:connectivity`,
      "cross-node": `tcp:${ips.b}:${PORT}:connectivity`,
      clusterip: `tcp:${clusterIP}:${SVC_PORT}:connectivity`,
      "nodeport-pod": `tcp:${addr[1]}:${nodePort}:connectivity`,
      outside: `tcp:${gateway}:${outside.addr.port}:connectivity`,
      "dns-a": `dns:A:${fqdn}:${clusterIP}`,
      "dns-srv": `dns:SRV:_conn._tcp.${fqdn}:${SVC_PORT}`,
      "dns-ptr": `dns:PTR:${clusterIP.split(".").reverse().join(".")}.in-addr.arpa.:${
        fqdn.slice(0, -1)
      }`,
      "dns-nxdomain": `dns:A:nonexistent.${NS}.svc.${NET.clusterDomain}.:NXDOMAIN`,
      "dns-forward": `dns:A:outside.connectivity.test.:${FORWARDED_ANSWER}`,
    };
    let lastDetail = "";
    /** The prober's line of each check in the last round (the reason of a denial). */
    const lines = new Map<string, string>();
    /** One round of every check. */
    const round = async (): Promise<Matrix> => {
      const args = Object.entries(podChecks).map(([n, spec]) => `${n}=${spec}`);
      const [out, host] = await Promise.all([
        k(["exec", "-n", NS, "client", "--", "/bin/sh", CONNECTIVITY, "probe", ...args]),
        tcpAnswers(addr[0], nodePort),
      ]);
      const m = { "nodeport-host": host } as Matrix;
      lines.set("nodeport-host", host ? "ok" : "fail (no answer from the host's connection)");
      for (const line of out.split("\n")) {
        const [name, verdict] = line.split(" ");
        if ((CHECKS as readonly string[]).includes(name)) {
          m[name as Check] = verdict === "ok";
          lines.set(name, line.slice(name.length + 1));
        }
      }
      for (const ch of CHECKS) {
        if (m[ch] === undefined) throw new Error(`prober printed no line for ${ch}: ${out}`);
      }
      lastDetail = out.split("\n").filter((l) => / fail /.test(l)).join("; ");
      return m;
    };
    /** Runs rounds until the matrix is `denied` exactly; records when each check got there. */
    const expect = async (phase: string, denied: Check[], timeoutS: number, since: number) => {
      const seen = new Set<Check>();
      await testEventual(`connectivity: ${phase}`, timeoutS, async () => {
        const m = await round();
        const wrong: string[] = [];
        for (const ch of CHECKS) {
          const want = !denied.includes(ch);
          if (m[ch] !== want) {
            wrong.push(`${ch} ${m[ch] ? "allowed" : "denied"}`);
          } else if (!seen.has(ch)) {
            seen.add(ch);
            times.push({
              phase,
              check: ch,
              expected: want ? "allowed" : "denied",
              changed: previous.has(ch) !== denied.includes(ch),
              seconds: (Date.now() - since) / 1000,
              detail: want ? "" : lines.get(ch) ?? "",
            });
          }
        }
        if (wrong.length) throw new Error(`${wrong.join(", ")} (${lastDetail})`);
      });
      previous = new Set(denied);
    };

    await expect("no policy", [], 60, Date.now());
    for (const ph of phases(gateway, addr[1])) {
      for (const p of ph.policies) await k(["apply", "-f", "-"], JSON.stringify(p));
      await expect(ph.name, ph.denied, POLICY_TIMEOUT_S, Date.now());
      if (ph.denied.includes("same-node")) {
        // The kubelet's probes come from the node: the listeners stay Ready.
        const pods: Obj[] = (await json(["get", "pods", "-n", NS, "-l", "app=server"])).items;
        for (const p of pods) {
          const ready = (p.status?.conditions ?? []).some((x: Obj) =>
            x.type === "Ready" && x.status === "True"
          );
          if (!ready) throw new Error(`${p.metadata.name} lost Ready under ${ph.name}`);
        }
      }
      // Every phase starts from the open matrix: deleting the policies reopens it.
      for (const p of ph.policies) {
        await k(["delete", "networkpolicy", "-n", NS, p.metadata.name]);
      }
      await expect(`${ph.name}: deleted`, [], POLICY_TIMEOUT_S, Date.now());
    }

    // Seconds from the end of `kubectl apply` to the end of the first round showing the state
    // (rounds take about a second: an upper bound); "=" marks a check the phase did not change.
    console.log("  connectivity matrix (s after kubectl apply until a round showed it):");
    for (const ph of new Set(times.map((t) => t.phase))) {
      console.log(`  ${ph}:`);
      for (const t of times.filter((t) => t.phase === ph)) {
        console.log(
          `    ${t.check.padEnd(14)} ${t.expected.padEnd(8)} ${t.changed ? " " : "="} ` +
            `${t.seconds.toFixed(1).padStart(5)} s  ${t.detail.slice(0, 90)}`,
        );
      }
    }
  } finally {
    outside.close();
    upstream.close();
    for (const [netns, text] of resolv) await setResolvConf(netns, text).catch(() => {});
    await k(["delete", "namespace", NS, "--wait=false"]).catch(() => {});
  }
}
