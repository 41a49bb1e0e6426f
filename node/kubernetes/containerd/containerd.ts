/**
 * The containerd runnable (kubernetes.md §6): writes the config and CNI template below
 * /ephemeral/containerd, runs containerd from the payload, and once its socket answers imports
 * every preseeded image. Only then is it Healthy and `ready` true, so the kubelet never asks for a
 * sandbox image that is not there yet (no registry is reachable to pull it).
 */
import type { Value } from "../../base/event/value.ts";
import { runCommand } from "../../base/supervisor/runcommand.ts";
import { placeIn } from "../../core/cgroups/node_cgroups.ts";
import type { Runnable } from "../../base/supervisor/supervisor.ts";
import { BIN, CHILD_PATH, PRESEED_DIR } from "../paths.ts";
import {
  type ContainerdPaths,
  NODE_PATHS,
  renderCniTemplate,
  renderContainerdConfig,
} from "./config.ts";
import { importPreseed, preseedArchives } from "./preseed.ts";
import { exists } from "../../base/sys/exists.ts";
import { NODE_RUNSC_PATHS, renderRunscConfig, type RunscPaths } from "../gvisor/config.ts";

/** The CRI sandbox (pause) image, preseeded from node/kubernetes/pause. */
export const SANDBOX_IMAGE = "preseed.metropolis.internal/node/kubernetes/pause:latest";

/** Options of {@link containerd}. */
export interface ContainerdRunOptions {
  /** Set true once containerd answers and the preseed is imported; false whenever it is not. */
  ready: Value<boolean>;
  /** See ContainerdOptions.restrictOomScoreAdj (WorkerHost.restrictOomScoreAdj). */
  restrictOomScoreAdj: boolean;
  /** Default {@link NODE_PATHS}. */
  paths?: ContainerdPaths;
  /** Default {@link PRESEED_DIR}. */
  preseedDir?: string;
  /** Executables; default the payload's {@link BIN} (tests use the host's). */
  bin?: { containerd: string; ctr: string };
  /** Metrics listener; default 127.0.0.1:7846, "" disables it. */
  metricsAddress?: string;
  /**
   * gVisor's runtime `runsc` (RuntimeClass `gvisor`): its shim config paths, or null for none.
   * Default: {@link NODE_RUNSC_PATHS} when the payload has both `runsc` and
   * `containerd-shim-runsc-v1` (BIN.runsc, BIN.runscShim), otherwise none.
   */
  runsc?: RunscPaths | null;
}

/** The runsc paths to configure (see ContainerdRunOptions.runsc). */
async function runscPaths(o: ContainerdRunOptions): Promise<RunscPaths | undefined> {
  if (o.runsc !== undefined) return o.runsc ?? undefined;
  const present = await Promise.all([BIN.runsc, BIN.runscShim].map(exists));
  return present.every((p) => p) ? NODE_RUNSC_PATHS : undefined;
}

/** Where the rendered config goes (the payload's /containerd is read-only). */
export function configPath(paths: ContainerdPaths): string {
  return `${paths.state}/config.toml`;
}

async function ctrVersion(ctr: string, socket: string, signal: AbortSignal): Promise<boolean> {
  const out = await new Deno.Command(ctr, {
    args: ["--address", socket, "version"],
    env: { PATH: CHILD_PATH },
    clearEnv: true,
    stdin: "null",
    stdout: "null",
    stderr: "null",
    signal,
  }).output();
  return out.success;
}

/** Runs containerd (DN `…worker.containerd`); see the module comment. */
export function containerd(o: ContainerdRunOptions): Runnable {
  return async (ctx) => {
    const p = o.paths ?? NODE_PATHS;
    const bin = o.bin ?? BIN;
    o.ready.set(false);
    for (const d of [p.root, p.state, p.cniConf, p.ipamDir]) {
      await Deno.mkdir(d, { recursive: true, mode: 0o711 });
    }
    const runsc = await runscPaths(o);
    if (runsc) {
      await Deno.mkdir(runsc.root, { recursive: true, mode: 0o711 });
      await Deno.writeTextFile(runsc.config, renderRunscConfig(runsc));
    }
    ctx.logger.info(runsc ? `runtime runsc (gVisor): ${runsc.runsc}` : "no runsc in the payload");
    const cfg = configPath(p);
    await Deno.writeTextFile(
      cfg,
      renderContainerdConfig({
        paths: p,
        sandboxImage: SANDBOX_IMAGE,
        restrictOomScoreAdj: o.restrictOomScoreAdj,
        metricsAddress: o.metricsAddress,
        runscConfig: runsc?.config,
      }),
    );
    await Deno.writeTextFile(p.cniTemplate, renderCniTemplate(p));
    const archives = await preseedArchives(o.preseedDir ?? PRESEED_DIR);
    let imported = false;
    try {
      await runCommand(ctx, [bin.containerd, "--config", cfg], {
        env: { PATH: CHILD_PATH },
        clearEnv: true,
        // Its shims inherit this group; runc puts the containers into the kubelet's kubepods.
        onSpawn: placeIn("kubernetes-runtime"),
        readinessIntervalMs: 200,
        readiness: async (signal) => {
          if (!await ctrVersion(bin.ctr, p.socket, signal)) return false;
          if (!imported) {
            const t0 = Date.now();
            try {
              const refs = await importPreseed({ address: p.socket, archives, ctr: bin.ctr });
              ctx.logger.info(
                `preseed: imported ${refs.length} images from ${archives.length} archives in ${
                  Date.now() - t0
                } ms`,
              );
            } catch (e) {
              ctx.logger.error(`${(e as Error).message}; retrying`);
              return false;
            }
            imported = true;
          }
          o.ready.set(true);
          return true;
        },
      });
    } finally {
      o.ready.set(false);
    }
  };
}
