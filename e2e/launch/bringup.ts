/**
 * Cluster bring-up of the launcher (testing.md §2.4 steps 2–6) and the cluster API helpers the
 * suites use: owner escrow on node 0, register information for the other nodes, approval until
 * every node is UP and HEALTHY, role flags, the metroctl directory and wrapper.
 *
 * Every dial goes through the switch's SOCKS5 proxy, as metroctl's would.
 */
import type * as grpc from "@grpc/grpc-js";
import { status } from "@grpc/grpc-js";
import type { GenService, GenServiceMethods } from "@bufbuild/protobuf/codegenv2";
import { AAA } from "../../proto/gen/metropolis/proto/api/aaa_pb.ts";
import {
  Management,
  type Node as ApiNode,
  Node_Health,
} from "../../proto/gen/metropolis/proto/api/management_pb.ts";
import {
  Curator,
  CuratorLocal,
  GetConsensusStatusResponse_EtcdMember_Status as MemberStatus,
} from "../../proto/gen/metropolis/node/core/curator/proto/api/api_pb.ts";
import { NodeState } from "../../proto/gen/metropolis/proto/common/common_pb.ts";
import { makeClient, type ServiceClient } from "../../proto/grpc.ts";
import { rawPublicKey } from "../../node/base/pki/keys.ts";
import { connectionParams, dialService } from "../../node/core/rpc/client.ts";
import { type Leader, LeaderResolver } from "../../node/core/rpc/resolver.ts";
import { insecureOwnerKey } from "./insecure_key.ts";
import { ConfigDir } from "../../metroctl/core/config.ts";
import { describeError } from "../../metroctl/core/errors.ts";
import { writeKubeconfig } from "../../metroctl/core/kubeconfig.ts";

/** What bring-up needs from the launcher's cluster. */
export interface LaunchedCluster {
  stateDir: string;
  numNodes: number;
  /** `host:port` of the SOCKS5 proxy. */
  socks: string;
  nodeAddress(i: number): string;
  log(msg: string): void;
}

/** Owner credentials and the cluster CA. */
export interface OwnerAccess {
  caCertificate: Uint8Array;
  certificate: Uint8Array;
  keys: CryptoKeyPair;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Period of bring-up's polls: escrow attempts while node 0's curator is not serving yet, and
 * GetNodes while waiting for node 0's address and while approving (the owner's API has no stream
 * that shows NEW nodes or health). Every millisecond slept after the awaited change happened is
 * added to the launch time, half a period on average per wait (formation bench: three such
 * waits). A namespace node answers a refused dial or a GetNodes of a few nodes in about a
 * millisecond of curator CPU, so 100 ms costs it little; a TCG VM answers one call in tens to
 * hundreds of milliseconds, so VMs keep 250 ms.
 */
export const BRINGUP_POLL_MS = { namespace: 100, vm: 250 } as const;

/**
 * Escrows the owner certificate from node 0 (retrying every `pollMs` until its curator serves,
 * ≤ `timeoutMs`).
 */
export async function escrowOwner(
  c: LaunchedCluster,
  timeoutMs = 120_000,
  attemptMs = 10_000,
  pollMs: number = BRINGUP_POLL_MS.vm,
): Promise<OwnerAccess> {
  const keys = await insecureOwnerKey();
  const target = `${c.nodeAddress(0)}:7835`;
  const deadline = Date.now() + timeoutMs;
  let last = "";
  for (;;) {
    try {
      // TOFU: node 0's CA is not known yet; it is pinned from this connection (§10.4).
      const p = await connectionParams(target, { identity: { ephemeral: keys }, socks5: c.socks });
      const aaa = makeClient(AAA, p.address, p.credentials, p.options as grpc.ClientOptions);
      const local = makeClient(
        CuratorLocal,
        p.address,
        p.credentials,
        p.options as grpc.ClientOptions,
      );
      try {
        const pub = await rawPublicKey(keys.publicKey);
        const s = aaa.escrow({ deadline: Date.now() + attemptMs });
        // Collect through events: an error before iteration starts must not go unhandled.
        const cert = await new Promise<Uint8Array | undefined>((resolve, reject) => {
          let got: Uint8Array | undefined;
          s.on("data", (r: { emittedCertificate: Uint8Array }) => {
            if (r.emittedCertificate.length) {
              got = r.emittedCertificate;
              s.end();
            }
          });
          s.on("error", reject);
          s.on("end", () => resolve(got));
          s.write({ parameters: { requestedIdentityName: "owner", publicKey: pub } });
        });
        if (!cert) throw new Error("escrow returned no certificate");
        const ca = (await local.getCACertificate({})).identityCaCertificate;
        return { caCertificate: ca, certificate: cert, keys };
      } finally {
        aaa.close();
        local.close();
        p.close?.();
      }
    } catch (e) {
      // `UNAVAILABLE: No connection established …` without grpc-js's empty "Resolution note:".
      // Without grpc-js's timing details, so the same failure is reported once.
      const msg = describeError(e).split("\n")[0].replace(/\s*Resolution note:\s*$/, "")
        .replace(/^(DEADLINE_EXCEEDED: Deadline exceeded) after .*$/, "$1");
      if (msg !== last) c.log(`waiting for node 0's curator: ${msg}`);
      last = msg;
      if (Date.now() > deadline) throw new Error(`escrow from node 0 failed: ${msg}`);
      // A fixed short period, no backoff: node 0 comes up within seconds and a refused dial
      // costs little (BRINGUP_POLL_MS).
      await sleep(pollMs);
    }
  }
}

/**
 * Writes `<state>/metroctl/{owner-key.pem,owner.pem,ca.pem}` in metroctl's own formats
 * (metroctl.md credentials), so the wrapper works without a takeownership.
 */
export async function writeMetroctlDir(stateDir: string, o: OwnerAccess): Promise<string> {
  const dir = `${stateDir}/metroctl`;
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  const cfg = new ConfigDir(dir);
  await cfg.writeOwnerKey(o.keys);
  await cfg.writeOwnerCertificate(o.certificate);
  await cfg.writeCA(o.caCertificate);
  return dir;
}

/** Reads the owner credentials back from `<state>/metroctl/` (a kept cluster, `--keep-state`). */
export async function readMetroctlDir(stateDir: string): Promise<OwnerAccess> {
  const cfg = new ConfigDir(`${stateDir}/metroctl`);
  const [keys, certificate, caCertificate] = await Promise.all([
    cfg.ownerKey(),
    cfg.ownerCertificate(),
    cfg.ca(),
  ]);
  if (!keys || !certificate || !caCertificate) {
    throw new Error(`${stateDir}/metroctl lacks the owner key, certificate or CA`);
  }
  return { keys, certificate, caCertificate };
}

/** How long {@link ClusterAPI} calls wait for a curator leader unless told otherwise. */
const LEADER_WAIT_MS = 30_000;

/** Cluster API access as the owner through the launcher's SOCKS5, following the leader. */
export class ClusterAPI {
  readonly owner: OwnerAccess;
  readonly #c: LaunchedCluster;
  readonly #resolver: LeaderResolver;

  /** Seeds: every node address. */
  constructor(c: LaunchedCluster, owner: OwnerAccess) {
    this.#c = c;
    this.owner = owner;
    this.#resolver = new LeaderResolver({
      seeds: Array.from({ length: c.numNodes }, (_, i) => c.nodeAddress(i)),
      ca: owner.caCertificate,
      identity: { certificate: owner.certificate, privateKey: owner.keys.privateKey },
      socks5: c.socks,
      watchNodes: false,
    });
    this.#resolver.start();
  }

  /** The current curator leader (waits for one). */
  leader(timeoutMs = LEADER_WAIT_MS): Promise<Leader> {
    return this.#resolver.leader(AbortSignal.timeout(timeoutMs));
  }

  /** A client of `service` on the current leader (close it after use: that also ends its relay). */
  async client<S extends GenServiceMethods>(
    service: GenService<S>,
    timeoutMs = LEADER_WAIT_MS,
  ): Promise<ServiceClient<S>> {
    const leader = await this.leader(timeoutMs);
    return await dialService(service, leader.address, {
      ca: this.owner.caCertificate,
      nodeId: leader.nodeId,
      identity: { certificate: this.owner.certificate, privateKey: this.owner.keys.privateKey },
      socks5: this.#c.socks,
    });
  }

  /** Runs `fn` with a Management client on the leader (waiting up to `timeoutMs` for one). */
  async management<T>(
    fn: (m: ServiceClient<typeof Management.method>) => Promise<T>,
    timeoutMs = LEADER_WAIT_MS,
  ): Promise<T> {
    const m = await this.client(Management, timeoutMs);
    try {
      return await fn(m);
    } finally {
      m.close();
    }
  }

  /** All nodes (GetNodes, optional CEL filter), waiting up to `timeoutMs` for a leader. */
  nodes(filter = "", timeoutMs = LEADER_WAIT_MS): Promise<ApiNode[]> {
    return this.management((m) => listNodes(m, filter), timeoutMs);
  }

  /** Consensus members as `{id, full}`. */
  async consensusStatus(): Promise<{ id: string; full: boolean }[]> {
    const c = await this.client(Curator);
    try {
      const r = await c.getConsensusStatus({}, { deadline: Date.now() + 10_000 });
      return r.etcdMember.map((m) => ({ id: m.id, full: m.status === MemberStatus.FULL }));
    } finally {
      c.close();
    }
  }

  /** Closes the resolver. */
  async close(): Promise<void> {
    await this.#resolver.close();
  }
}

/** GetNodes on `m` collected into an array (optional CEL filter). */
export async function listNodes(
  m: ServiceClient<typeof Management.method>,
  filter = "",
  deadlineMs = 15_000,
): Promise<ApiNode[]> {
  const out: ApiNode[] = [];
  for await (const n of m.getNodes({ filter }, { deadline: Date.now() + deadlineMs })) out.push(n);
  return out;
}

/** Whether every node is UP with an address and HEALTHY. */
export function allHealthy(nodes: ApiNode[], want: number): boolean {
  return nodes.length === want &&
    nodes.every((n) =>
      n.state === NodeState.UP && !!n.status?.externalAddress && n.health === Node_Health.HEALTHY
    );
}

/**
 * Approves NEW nodes, reading GetNodes every `pollMs` ({@link BRINGUP_POLL_MS}: the owner's API
 * has no stream that shows NEW nodes; `Curator.Watch` serves nodes, not the owner, and carries no
 * state or public key), until all `numNodes` are UP with an address and HEALTHY (§2.4 step 5).
 * Progress lines name each approval and the final time.
 */
export async function approveUntilHealthy(
  c: LaunchedCluster,
  api: ClusterAPI,
  timeoutMs: number,
  started = performance.now(),
  pollMs: number = BRINGUP_POLL_MS.vm,
): Promise<ApiNode[]> {
  const deadline = Date.now() + timeoutMs;
  const approved = new Set<string>();
  let lastLine = "";
  // One client for the whole loop (a new TLS connection through SOCKS5 per call costs more than
  // the period); dialled again after an error, when the leader may have moved.
  let m: ServiceClient<typeof Management.method> | undefined;
  try {
    for (;;) {
      let nodes: ApiNode[] = [];
      try {
        m ??= await api.client(Management);
        nodes = await listNodes(m);
        for (const n of nodes) {
          if (n.state === NodeState.NEW && !approved.has(n.id)) {
            const num = n.labels?.pairs.find((p) => p.key === "test-node-number")?.value ?? "?";
            c.log(`approving node ${num} (${n.id})`);
            await m.approveNode({ pubkey: n.pubkey }, { deadline: Date.now() + 15_000 });
            approved.add(n.id);
          }
        }
        if (allHealthy(nodes, c.numNodes)) {
          c.log(
            `${c.numNodes}/${c.numNodes} nodes UP and HEALTHY after ${
              ((performance.now() - started) / 1000).toFixed(1)
            } s`,
          );
          return nodes;
        }
      } catch (e) {
        m?.close();
        m = undefined;
        const code = (e as { code?: number }).code;
        if (code !== status.UNAVAILABLE) lastLine = `cluster API: ${(e as Error).message}`;
        if (Date.now() > deadline) {
          throw new Error(`nodes not all UP and HEALTHY after ${timeoutMs / 1000} s (${lastLine})`);
        }
        // No node list this round: no "0/N UP" line that only says the call failed.
        await sleep(pollMs);
        continue;
      }
      const up = nodes.filter((n) => n.state === NodeState.UP).length;
      const healthy = nodes.filter((n) => n.health === Node_Health.HEALTHY).length;
      const line = `${up}/${c.numNodes} UP, ${healthy} HEALTHY`;
      if (line !== lastLine) c.log(line);
      lastLine = line;
      if (Date.now() > deadline) {
        throw new Error(`nodes not all UP and HEALTHY after ${timeoutMs / 1000} s (${line})`);
      }
      await sleep(pollMs);
    }
  } finally {
    m?.close();
  }
}

/**
 * Makes node `id` a ConsensusMember (retrying for 10 s), then waits until it is a FULL etcd member
 * (LEARNER → FULL) in GetConsensusStatus.
 */
export async function makeConsensusMember(api: ClusterAPI, id: string, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  const retryUntil = Date.now() + 10_000;
  for (;;) {
    try {
      await api.management((m) =>
        m.updateNodeRoles({ node: { case: "id", value: id }, consensusMember: true })
      );
      break;
    } catch (e) {
      if (Date.now() > retryUntil) throw e;
      await sleep(1000);
    }
  }
  for (;;) {
    const st = await api.consensusStatus().catch(() => []);
    if (st.some((m) => m.id === id && m.full)) return;
    if (Date.now() > deadline) throw new Error(`${id} did not become a full etcd member`);
    await sleep(1000);
  }
}

/** How the launcher runs metroctl: this Deno on the repository's source (no build needed). */
export function metroctlCommand(): { command: string; prefix: string[] } {
  const repo = new URL("../..", import.meta.url).pathname.replace(/\/$/, "");
  return { command: Deno.execPath(), prefix: ["run", "-A", "--quiet", `${repo}/metroctl/main.ts`] };
}

/** Writes the metroctl wrapper (mode 0555) and returns its path (testing.md §2.6). */
export async function writeWrapper(
  stateDir: string,
  socks: string,
  endpoints: string[],
): Promise<{ path: string; flags: string }> {
  const flags = [
    `--config ${stateDir}/metroctl`,
    `--proxy ${socks}`,
    ...endpoints.map((e) => `--endpoints ${e}`),
  ].join(" ");
  const m = metroctlCommand();
  const entry = [m.command, ...m.prefix].join(" ");
  const path = `${stateDir}/metroctl/metroctl.sh`;
  await Deno.writeTextFile(path, `#!/usr/bin/env bash\nexec ${entry} ${flags} "$@"\n`);
  await Deno.chmod(path, 0o555);
  return { path, flags };
}

/** The kubeconfig context the launcher writes (as upstream's launcher names it). */
export const KUBE_CONTEXT = "launch-cluster";

/**
 * Writes `<state>/kubeconfig` with the context {@link KUBE_CONTEXT}: the authproxy (:6444) of
 * controller `controller` (node ID pinned as TLS server name) through the SOCKS5 proxy, the
 * metroctl credential plugin with the launcher's owner credentials; and the wrapper
 * `<state>/kubectl` that runs the cluster's own kubectl (the `kube` binary's applet) on it.
 * With `userKubeconfig`, the same context is also merged into `$KUBECONFIG` / `~/.kube/config`.
 */
export async function writeKubectl(o: {
  stateDir: string;
  socks: string;
  endpoints: string[];
  controller: { id: string; address: string };
  ca: Uint8Array;
  kube: string;
  userKubeconfig?: boolean;
}): Promise<{ wrapper: string; kubeconfig: string; userKubeconfig?: string }> {
  const entry = {
    context: KUBE_CONTEXT,
    host: o.controller.address,
    ca: o.ca,
    nodeId: o.controller.id,
    proxy: o.socks,
    configDir: `${o.stateDir}/metroctl`,
    endpoints: o.endpoints,
    plugin: metroctlCommand(),
  };
  const kubeconfig = `${o.stateDir}/kubeconfig`;
  await Deno.remove(kubeconfig).catch(() => {});
  await writeKubeconfig({ ...entry, path: kubeconfig });
  const wrapper = `${o.stateDir}/kubectl`;
  await Deno.writeTextFile(
    wrapper,
    `#!/usr/bin/env bash\nexec ${o.kube} kubectl --kubeconfig ${kubeconfig} --context ${KUBE_CONTEXT} "$@"\n`,
  );
  await Deno.chmod(wrapper, 0o555);
  const user = o.userKubeconfig ? await writeKubeconfig(entry) : undefined;
  return { wrapper, kubeconfig, userKubeconfig: user };
}
