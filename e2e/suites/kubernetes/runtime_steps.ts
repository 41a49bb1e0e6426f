/**
 * Container runtimes beyond runc in the kubernetes suite:
 *
 * - gVisor (`RuntimeClass gvisor`, handler `runsc`): when the payloads carry `runsc` and
 *   `containerd-shim-runsc-v1` (node/kubernetes/gvisor/build.ts), a pod with that class must run
 *   inside gVisor's kernel on a worker: its `dmesg` is gVisor's boot banner, its `uname -r` is
 *   not the host's kernel, and its network (gVisor's own stack on the CNI interface) resolves
 *   `kubernetes.default` through the cluster DNS. Without them the step reports `skipped: <reason>`; half of them fails.
 * - User-namespace pods (`hostUsers: false`): need containerd 2.0 or later; reported as skipped
 *   while the nodes run 1.x, failing once a 2.x appears without a step that checks them.
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

/** Why user namespaces are not there; printed with the skip. */
export const USERNS_GAP = (version: string) =>
  `the nodes run containerd ${version} (Debian's package in the payload); user-namespace pods ` +
  "need containerd >= 2.0: github.com/containerd/containerd/v2 (v2.4.2) is served by the Go " +
  "module proxy but was not built, and the node's containerd (config version 2, CRI plugin " +
  "layout of 1.6) has not been moved to 2.x";

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
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace: "default" },
    spec: {
      nodeName: node,
      runtimeClassName: "gvisor",
      restartPolicy: "Never",
      containers: [{
        name: "probe",
        image: IMAGE_REFS.busybox,
        imagePullPolicy: "Never",
        command: [
          "sh",
          "-c",
          `dmesg; echo release=$(uname -r)
          if nslookup ${DNS_PROBE.name} | grep -q ${DNS_PROBE.ip}; then echo dns=ok; fi`,
        ],
      }],
    },
  };
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

/** Runs a gvisor pod on `node` (120 s, a large step) and checks it ran inside gVisor. */
async function gvisorStep(c: Cluster, node: string): Promise<void> {
  const k = (args: string[], stdin?: string) => kubectl(`${c.stateDir}/kubectl`, args, stdin);
  const rc = JSON.parse(await k(["get", "runtimeclass", "gvisor", "-o", "json"]));
  if (rc.handler !== "runsc") throw new Error(`RuntimeClass gvisor has handler ${rc.handler}`);
  const name = `gvisor-${Date.now() % 100000}`;
  await k(["apply", "-f", "-"], JSON.stringify(gvisorPod(name, node)));
  try {
    const release = await testEventual(
      "gVisor pod (RuntimeClass gvisor) runs in gVisor's kernel",
      120,
      async () => {
        const p = JSON.parse(await k(["get", "pod", name, "-o", "json"]));
        const phase = p.status?.phase;
        if (phase === "Failed") {
          throw permanent(`pod failed: ${JSON.stringify(p.status).slice(0, 600)}`);
        }
        if (phase !== "Succeeded") {
          // The sandbox's failures (runtime, shim) show only as the pod's latest Event.
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
          return checkGvisorLog(log, Deno.osRelease());
        } catch (e) {
          throw permanent(`${(e as Error).message}; log: ${log.slice(0, 400)}`);
        }
      },
    );
    console.log(`  gVisor pod on ${node}: kernel ${release} (host ${Deno.osRelease()})`);
  } finally {
    await k(["delete", "pod", name, "--wait=false"]).catch(() => {});
  }
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
  if (!(major < 2)) {
    throw new Error(`containerd ${version} supports user namespaces but no step checks them`);
  }
  skipped("user-namespace pod (hostUsers: false)", USERNS_GAP(version));
}
