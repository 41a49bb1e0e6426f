/**
 * Container runtimes beyond runc in the kubernetes suite:
 *
 * - gVisor (`RuntimeClass gvisor`, handler `runsc`): when the payloads carry `runsc` and
 *   `containerd-shim-runsc-v1` (node/kubernetes/gvisor/build.ts), a pod with that class must run
 *   inside gVisor's kernel on a worker: its `dmesg` is gVisor's boot banner, its `uname -r` is
 *   not the host's kernel, and its network (gVisor's own stack on the CNI interface) resolves
 *   `kubernetes.default` through the cluster DNS. Without them the step reports `skipped: <reason>`; half of them fails.
 * - User-namespace pods (`hostUsers: false`, feature gate UserNamespacesSupport on apiserver and
 *   kubelet, node/kubernetes/featuregates.ts): the worker's runtime handler `runc` must report
 *   user-namespace support in the Node's status (containerd >= 2.0 with runc >= 1.2,
 *   node/kubernetes/containerd/build.ts), and a pod with `hostUsers: false` must run with a
 *   non-identity /proc/self/uid_map whose container root is not host root. Payloads with a
 *   containerd 1.x (no user-namespace support at all) report `skipped: <version>`.
 */
import type { Cluster } from "../../launch/cluster.ts";
import { kubectl } from "../../launch/kubectl.ts";
import { IMAGE_REFS } from "../../images/images.ts";
import { BIN, NET } from "../../../node/kubernetes/paths.ts";
import { permanent, testEventual } from "../eventual.ts";

/** Why gVisor is not there (see the module comment); printed with the skip. */
export const GVISOR_GAP = "the payloads lack runsc and containerd-shim-runsc-v1 " +
  "(node/kubernetes/gvisor/build.ts), so containerd configures no runtime runsc";

/** The line of gVisor's kernel log every sandbox starts with. */
export const GVISOR_BANNER = "Starting gVisor...";

/** Why user namespaces are not there (a containerd 1.x in the payloads); printed with the skip. */
export const USERNS_GAP = (version: string) =>
  `the payloads' containerd is ${version}; user-namespace pods need containerd >= 2.0 ` +
  "(node/kubernetes/containerd/build.ts)";

function skipped(name: string, reason: string): void {
  console.log(`  step "${name}" skipped: ${reason}`);
}

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

/** The version containerd reports (`containerd --version`, third field). */
async function containerdVersion(binary: string): Promise<string> {
  const o = await new Deno.Command(binary, { args: ["--version"], stdout: "piped" }).output();
  const v = new TextDecoder().decode(o.stdout).trim().split(/\s+/)[2];
  if (!o.success || !v) throw new Error(`${binary} --version failed`);
  return v;
}

/** The DNS name the gvisor pod resolves, and the address it must resolve to. */
const DNS_PROBE = {
  name: `kubernetes.default.svc.${NET.clusterDomain}`,
  ip: NET.apiserverServiceIp,
};

/** A run-to-completion pod of RuntimeClass gvisor on `node` printing its kernel's view. */
export function gvisorPod(name: string, node: string): Record<string, unknown> {
  return busyboxPod(name, node, [
    "sh",
    "-c",
    `dmesg; echo release=$(uname -r)
          if nslookup ${DNS_PROBE.name} | grep -q ${DNS_PROBE.ip}; then echo dns=ok; fi`,
  ], { runtimeClassName: "gvisor" });
}

/**
 * Checks a gvisor pod's log: gVisor's banner, a kernel release other than `hostRelease`, and the
 * DNS answer. Returns the sandbox's release; throws naming what is missing.
 */
export function checkGvisorLog(log: string, hostRelease: string): string {
  if (!log.includes(GVISOR_BANNER)) throw new Error(`no "${GVISOR_BANNER}" in the pod's dmesg`);
  const release = /^release=(.*)$/m.exec(log)?.[1]?.trim();
  if (!release) throw new Error("the pod printed no release= line");
  if (release === hostRelease) throw new Error(`uname -r is the host's kernel ${hostRelease}`);
  if (!/^dns=ok$/m.test(log)) {
    throw new Error(`${DNS_PROBE.name} did not resolve to ${DNS_PROBE.ip} inside the sandbox`);
  }
  return release;
}

type Kubectl = (args: string[], stdin?: string) => Promise<string>;

/**
 * Applies the run-to-completion `pod`, waits up to `timeoutS` for it to succeed (a failed pod, or
 * one still waiting, reports its latest Event: sandbox and runtime failures show only there) and
 * returns `check` of its log; a throwing `check` fails the step at once. Deletes the pod.
 */
async function probePod<T>(
  k: Kubectl,
  step: string,
  timeoutS: number,
  pod: Record<string, unknown>,
  check: (log: string) => T,
): Promise<T> {
  const name = (pod.metadata as { name: string }).name;
  await k(["apply", "-f", "-"], JSON.stringify(pod));
  try {
    return await testEventual(step, timeoutS, async () => {
      const p = JSON.parse(await k(["get", "pod", name, "-o", "json"]));
      const phase = p.status?.phase;
      if (phase === "Failed") {
        throw permanent(`pod failed: ${JSON.stringify(p.status).slice(0, 600)}`);
      }
      if (phase !== "Succeeded") {
        const events = JSON.parse(
          await k([
            "get",
            "events",
            "--field-selector",
            `involvedObject.name=${name}`,
            "-o",
            "json",
          ]),
        ).items as { lastTimestamp?: string; message?: string }[];
        events.sort((a, b) => (a.lastTimestamp ?? "").localeCompare(b.lastTimestamp ?? ""));
        throw new Error(`pod ${phase}; last event: ${events.at(-1)?.message}`.slice(0, 600));
      }
      const log = await k(["logs", name]);
      try {
        return check(log);
      } catch (e) {
        throw permanent(`${(e as Error).message}; log: ${log.slice(0, 400)}`);
      }
    });
  } finally {
    await k(["delete", "pod", name, "--wait=false"]).catch(() => {});
  }
}

/** Runs a gvisor pod on `node` (120 s, a large step) and checks it ran inside gVisor. */
async function gvisorStep(c: Cluster, node: string): Promise<void> {
  const k: Kubectl = (args, stdin) => kubectl(`${c.stateDir}/kubectl`, args, stdin);
  const rc = JSON.parse(await k(["get", "runtimeclass", "gvisor", "-o", "json"]));
  if (rc.handler !== "runsc") throw new Error(`RuntimeClass gvisor has handler ${rc.handler}`);
  const release = await probePod(
    k,
    "gVisor pod (RuntimeClass gvisor) runs in gVisor's kernel",
    120,
    gvisorPod(`gvisor-${Date.now() % 100000}`, node),
    (log) => checkGvisorLog(log, Deno.osRelease()),
  );
  console.log(`  gVisor pod on ${node}: kernel ${release} (host ${Deno.osRelease()})`);
}

/** A run-to-completion pod in its own user namespace on `node` printing its uid_map. */
export function usernsPod(name: string, node: string): Record<string, unknown> {
  return busyboxPod(name, node, ["sh", "-c", "cat /proc/self/uid_map; echo uid=$(id -u)"], {
    hostUsers: false,
  });
}

/**
 * A run-to-completion pod of the preseeded busybox on `node` running `command`, with `spec`
 * fields added (runtime class, user namespace): the one shape of the suite's probe pods.
 */
export function busyboxPod(
  name: string,
  node: string,
  command: string[],
  spec: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace: "default" },
    spec: {
      nodeName: node,
      restartPolicy: "Never",
      ...spec,
      containers: [{
        name: "probe",
        image: IMAGE_REFS.busybox,
        imagePullPolicy: "Never",
        command,
      }],
    },
  };
}

/** One line of a uid_map: IDs `inside`… map to host IDs `outside`…, `length` of them. */
export interface IdMapping {
  inside: number;
  outside: number;
  length: number;
}

/**
 * Checks a userns pod's log: the container runs as uid 0, and its uid_map maps that root to a
 * host ID other than 0 (so it is not the identity map of the initial namespace,
 * `0 0 4294967295`). Returns the mappings; throws naming what is wrong.
 */
export function checkUsernsLog(log: string): IdMapping[] {
  const map = [...log.matchAll(/^\s*(\d+)\s+(\d+)\s+(\d+)\s*$/gm)].map((m) => ({
    inside: Number(m[1]),
    outside: Number(m[2]),
    length: Number(m[3]),
  }));
  if (!map.length) throw new Error("the pod printed no uid_map lines");
  if (!/^uid=0$/m.test(log)) throw new Error("the container does not run as uid 0");
  const root = map.find((m) => m.inside === 0);
  if (!root) throw new Error("uid_map does not map container uid 0");
  if (root.outside === 0) {
    throw new Error(
      `container root is host root (uid_map ${root.inside} ${root.outside} ${root.length})`,
    );
  }
  return map;
}

/**
 * The worker's runtime handler `runc` must report user-namespace support (Node
 * status.runtimeHandlers, from containerd's CRI), then a `hostUsers: false` pod runs on it with a
 * non-identity uid_map.
 */
async function usernsStep(c: Cluster, node: string): Promise<void> {
  const k: Kubectl = (args, stdin) => kubectl(`${c.stateDir}/kubectl`, args, stdin);
  const n = JSON.parse(await k(["get", "node", node, "-o", "json"]));
  const handlers = (n.status?.runtimeHandlers ?? []) as {
    name: string;
    features?: { userNamespaces?: boolean };
  }[];
  const runc = handlers.find((h) => h.name === "runc");
  if (!runc?.features?.userNamespaces) {
    throw new Error(
      `node ${node}: runtime handler runc reports no user-namespace support (runtimeHandlers ${
        JSON.stringify(handlers)
      })`,
    );
  }
  const map = await probePod(
    k,
    "user-namespace pod (hostUsers: false) runs with its own uid_map",
    120,
    usernsPod(`userns-${Date.now() % 100000}`, node),
    checkUsernsLog,
  );
  const lines = map.map((m) => `${m.inside} ${m.outside} ${m.length}`).join("; ");
  console.log(
    `  user-namespace pod on ${node}: uid_map ${lines} (container root = host uid ${
      map.find((m) => m.inside === 0)!.outside
    })`,
  );
}

/** The runtime steps on `c`'s payloads (see the module comment); the gVisor pod on `worker`. */
export async function runtimeSteps(c: Cluster, worker: string): Promise<void> {
  if (!c.payloads) throw new Error("runtime steps: the cluster has no payload directory");
  const gvisor = [BIN.runsc, BIN.runscShim];
  const present = await Promise.all(gvisor.map((p) => exists(`${c.payloads}${p}`)));
  if (present.every((p) => p)) await gvisorStep(c, worker);
  else if (present.some((p) => p)) {
    throw new Error(`gVisor: only ${gvisor.filter((_, i) => present[i]).join(", ")} in payloads`);
  } else skipped("gVisor pod (RuntimeClass gvisor)", GVISOR_GAP);

  const version = await containerdVersion(`${c.payloads}${BIN.containerd}`);
  const major = Number(/^v?(\d+)\./.exec(version)?.[1]);
  if (major < 2) skipped("user-namespace pod (hostUsers: false)", USERNS_GAP(version));
  else await usernsStep(c, worker);
}
