/**
 * The agent in installer mode (image.md §11; `metropolis.mode=installer` on the kernel command
 * line): waits up to 30 s for the medium (FAT32 label `METRO_INST`), mounts it read-only, picks
 * the target disk, installs, syncs, logs `Installation completed` and reboots 2 s later. Without
 * a suitable disk it logs `couldn't find a suitable block device` at ERROR and stays idle.
 * @module
 */
import { delay } from "../../base/delay/delay.ts";
import { mount, MS, sync } from "../../base/sys/mod.ts";
import { type Context, signal, untilAborted } from "../../base/supervisor/supervisor.ts";
import { chooseTarget, type DeviceSources, findMedium, listDisks, NO_TARGET } from "./devices.ts";
import { installNode } from "./install.ts";

/** Options of {@link installerRunnable}. */
export interface InstallerOptions {
  /** Reboots the machine (PID 1's power hook). */
  reboot(): Promise<void>;
  /** Where the medium is mounted (default `/installer`). */
  mountPoint?: string;
  /** sysfs and /dev (tests). */
  sources?: DeviceSources;
  /** Mounts the medium partition read-only at the mount point (default: mount(2) vfat). */
  mountMedium?: (device: string, target: string) => void;
  /** efivarfs (default `/sys/firmware/efi/efivars`; null: none). */
  efivars?: string | null;
  /** How long to wait for the medium (default 30 s) and the reboot delay (default 2 s). */
  mediumTimeoutMs?: number;
  rebootDelayMs?: number;
}

/** The installer runnable (DN `root.installer`). */
export function installerRunnable(o: InstallerOptions) {
  return async (ctx: Context): Promise<void> => {
    const log = ctx.logger;
    const dev = o.sources?.dev ?? "/dev";
    const deadline = performance.now() + (o.mediumTimeoutMs ?? 30_000);
    let medium = await findMedium(listDisks(o.sources), o.sources);
    while (!medium && performance.now() < deadline && !ctx.signal.aborted) {
      await delay(500, ctx.signal);
      medium = await findMedium(listDisks(o.sources), o.sources);
    }
    if (!medium) throw new Error("installer medium (FAT label METRO_INST) not found within 30 s");
    const target = o.mountPoint ?? "/installer";
    await Deno.mkdir(target, { recursive: true });
    (o.mountMedium ?? ((d, t) => mount(d, t, "vfat", MS.RDONLY | MS.NOSUID | MS.NODEV, "")))(
      `${dev}/${medium.partition}`,
      target,
    );
    log.info(`installer medium ${dev}/${medium.partition} mounted read-only at ${target}`);
    const disk = chooseTarget(listDisks(o.sources), medium.disk);
    signal(ctx, "healthy");
    if (!disk) {
      log.error(NO_TARGET);
      await untilAborted(ctx);
      return;
    }
    const t0 = performance.now();
    await installNode({
      medium: target,
      target: `${dev}/${disk.name}`,
      targetBytes: disk.sizeBytes,
      efivars: o.efivars,
      log: (l) => log.info(l),
    });
    sync();
    log.info(`Installation completed (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
    await delay(o.rebootDelayMs ?? 2000, ctx.signal);
    if (!ctx.signal.aborted) await o.reboot();
    await untilAborted(ctx);
  };
}
