/**
 * The local-volume provisioner of one worker (kubernetes.md §11), as the CSI provisioner
 * identity: informers on PersistentVolumeClaims, PersistentVolumes and StorageClasses feed one
 * worker loop that applies {@link claimAction} and {@link volumeAction} to every object after
 * each change, one action at a time:
 *
 * - provision: directory + quota ({@link createVolume}), then the PV (an existing one is fine);
 * - resize: quota raised, then the claim's status capacity, then the PV's capacity — in that
 *   order, so the kubelet never sees a PV larger than its claim's status and never starts a node
 *   expansion of its own;
 * - delete: quota and directory removed, then the PV.
 *
 * Every action is idempotent, since the informers may not show our own last write yet. An
 * action that fails is reported as a Warning Event on its object and retried after a back-off
 * (doubling from 1 s to 60 s); the apiserver going away fails the informers and so this
 * runnable (the supervisor restarts it).
 */
import { delay } from "../../base/delay/delay.ts";
import { Value } from "../../base/event/value.ts";
import { type Runnable, signal } from "../../base/supervisor/supervisor.ts";
import { KubeApiError, type KubeClient, type KubeObject } from "../client/client.ts";
import { inform } from "../dns/informer.ts";
import { CSI_DRIVER } from "../reconciler/objects.ts";
import {
  claimAction,
  parser,
  type Pv,
  type Pvc,
  PvcSchema,
  PvSchema,
  type StorageClass,
  StorageClassSchema,
  volumeAction,
} from "./provision.ts";
import { bytesQuantity } from "./quantity.ts";
import { createVolume, deleteVolume, resizeVolume, type VolumeDirs } from "./volumes.ts";

/** What the provisioner needs. */
export interface ProvisionerOptions {
  /** Client as the CSI provisioner identity. */
  client: KubeClient;
  nodeId: string;
  volumes: VolumeDirs;
}

/** Collections the provisioner watches. */
export const PATHS = {
  pvcs: "/api/v1/persistentvolumeclaims",
  pvs: "/api/v1/persistentvolumes",
  classes: "/apis/storage.k8s.io/v1/storageclasses",
} as const;

const MERGE = { contentType: "application/merge-patch+json" };
const RETRY_MIN_MS = 1000;
const RETRY_MAX_MS = 60_000;

/** The informers' view. */
interface State {
  pvcs: ReadonlyMap<string, Pvc>;
  pvs: ReadonlyMap<string, Pv>;
  classes: ReadonlyMap<string, StorageClass>;
}

/** The provisioner runnable (see the module comment). */
export function provisioner(o: ProvisionerOptions): Runnable {
  return async (ctx) => {
    const { client } = o;
    const stop = ctx.signal;
    const state: Partial<State> = {};
    const generation = new Value<number>(0);
    const bump = () => generation.set(generation.get()! + 1);
    const watch = <T>(key: keyof State, path: string, parse: (x: KubeObject) => T | undefined) =>
      inform<T>({
        client,
        path,
        parse,
        signal: stop,
        onChange: (items) => {
          (state as Record<string, unknown>)[key] = new Map(items);
          bump();
        },
      });
    // An informer ends only by throwing: the apiserver is gone or refused us.
    const informers = Promise.race([
      watch("pvcs", PATHS.pvcs, parser(PvcSchema)),
      watch("pvs", PATHS.pvs, parser(PvSchema)),
      watch("classes", PATHS.classes, parser(StorageClassSchema)),
    ]);
    informers.catch(() => {});

    const event = async (
      involved: KubeObject,
      type: "Normal" | "Warning",
      reason: string,
      message: string,
    ) => {
      const ns = involved.namespace ?? "default";
      const now = new Date().toISOString();
      try {
        await client.request("POST", `/api/v1/namespaces/${ns}/events`, {
          apiVersion: "v1",
          kind: "Event",
          metadata: { generateName: `${involved.name}.`, namespace: ns },
          involvedObject: involved,
          type,
          reason,
          message: message.slice(0, 1000),
          source: { component: CSI_DRIVER, host: o.nodeId },
          firstTimestamp: now,
          lastTimestamp: now,
          count: 1,
        }, { signal: stop });
      } catch (e) {
        ctx.logger.warning(`event ${reason} on ${involved.name}: ${(e as Error).message}`);
      }
    };
    const claimRef = (pvc: Pvc) => ({
      apiVersion: "v1",
      kind: "PersistentVolumeClaim",
      namespace: pvc.metadata.namespace,
      name: pvc.metadata.name,
      uid: pvc.metadata.uid,
    });

    const act = async (s: State, key: string, failures: Map<string, number>) => {
      const [kind, name] = key.split(":", 2) as ["pvc" | "pv", string];
      if (kind === "pvc") {
        const pvc = s.pvcs.get(name)!;
        const a = claimAction(pvc, s.pvs, s.classes, o.nodeId);
        const id = `${pvc.metadata.namespace}/${pvc.metadata.name}`;
        switch (a.op) {
          case "none":
            return;
          case "refuse":
            // Reported once per claim; not retried (what makes it refused cannot change).
            if (failures.get(key) === -1) return;
            failures.set(key, -1);
            ctx.logger.warning(`not provisioning ${id}: ${a.reason}`);
            await event(claimRef(pvc), "Warning", "ProvisioningFailed", a.reason);
            return;
          case "provision": {
            ctx.logger.info(`provisioning ${a.volume} (${bytesQuantity(a.bytes)}) for ${id}`);
            await createVolume(o.volumes, a.volume, a.bytes);
            try {
              await client.request("POST", PATHS.pvs, a.pv, { signal: stop });
            } catch (e) {
              if (!(e instanceof KubeApiError && e.status === 409)) throw e;
            }
            if (!o.volumes.quotas) {
              await event(
                claimRef(pvc),
                "Warning",
                "CapacityNotEnforced",
                `${a.volume}: this node's /data has no project quotas; the size is not enforced`,
              );
            }
            return;
          }
          case "resize": {
            const q = bytesQuantity(a.bytes);
            ctx.logger.info(`resizing ${a.volume} to ${q} for ${id}`);
            resizeVolume(o.volumes, a.volume, a.bytes);
            await client.request(
              "PATCH",
              `/api/v1/namespaces/${pvc.metadata.namespace}/persistentvolumeclaims/${pvc.metadata.name}/status`,
              { status: { capacity: { storage: q }, allocatedResources: { storage: q } } },
              { ...MERGE, signal: stop },
            );
            await client.request(
              "PATCH",
              `${PATHS.pvs}/${a.pv}`,
              { spec: { capacity: { storage: q } } },
              { ...MERGE, signal: stop },
            );
            await event(claimRef(pvc), "Normal", "VolumeResizeSuccessful", `${a.volume}: ${q}`);
            return;
          }
        }
      }
      const pv = s.pvs.get(name)!;
      const a = volumeAction(pv, o.nodeId);
      if (a.op === "none") return;
      ctx.logger.info(`deleting released volume ${a.volume}`);
      await deleteVolume(o.volumes, a.volume);
      try {
        await client.request("DELETE", `${PATHS.pvs}/${a.pv}`, undefined, { signal: stop });
      } catch (e) {
        if (!(e instanceof KubeApiError && e.status === 404)) throw e;
      }
    };

    const worker = async () => {
      const failures = new Map<string, number>();
      let seen = -1;
      for (;;) {
        await generation.waitFor((g) => g !== seen, stop);
        seen = generation.get()!;
        if (!state.pvcs || !state.pvs || !state.classes) continue;
        const s = state as State;
        const keys = [
          ...[...s.pvcs.keys()].map((k) => `pvc:${k}`),
          ...[...s.pvs.keys()].map((k) => `pv:${k}`),
        ];
        let retry = 0;
        for (const key of keys) {
          try {
            await act(s, key, failures);
            if (failures.get(key)! > 0) failures.delete(key);
          } catch (e) {
            stop.throwIfAborted();
            const n = Math.max(0, failures.get(key) ?? 0) + 1;
            failures.set(key, n);
            const msg = (e as Error).message.split("\n")[0];
            ctx.logger.warning(`${key}: ${msg} (attempt ${n})`);
            const [kind, name] = key.split(":", 2);
            const obj = kind === "pvc" ? s.pvcs.get(name)! : s.pvs.get(name)!;
            await event(
              kind === "pvc"
                ? claimRef(obj as Pvc)
                : { apiVersion: "v1", kind: "PersistentVolume", name: obj.metadata.name },
              "Warning",
              kind === "pvc" ? "ProvisioningFailed" : "DeprovisioningFailed",
              msg,
            );
            const wait = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** (n - 1));
            retry = retry ? Math.min(retry, wait) : wait;
          }
        }
        // Forget refusals of claims that are gone.
        for (const [k, v] of failures) {
          if (v === -1 && !keys.includes(k)) failures.delete(k);
        }
        if (retry) delay(retry, stop).then(() => stop.aborted || bump());
      }
    };
    signal(ctx, "healthy");
    await Promise.race([informers, worker()]);
  };
}
