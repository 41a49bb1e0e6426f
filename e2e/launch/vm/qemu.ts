/**
 * One QEMU VM booting a node disk through OVMF with Secure Boot (testing.md §2.3), its serial
 * console captured to a file and searchable while it runs. Used by the boot tests and the
 * launcher. TCG unless KVM is known to work (workplace.md §6: KVM is PVM here and unusable).
 * @module
 */
import { startSwtpm, type Swtpm } from "./swtpm.ts";
import { diesWithParent } from "../../../node/base/sys/parent_death.ts";

/** Debian's Secure-Boot OVMF code image (needs SMM). */
export const OVMF_CODE = "/usr/share/OVMF/OVMF_CODE_4M.secboot.fd";

/** Options of {@link startVm}. */
export interface VmOptions {
  /** Directory for this VM's state: vars copy, console log, TPM state (absolute). */
  stateDir: string;
  /** Node disk image. Used in place unless `snapshot` is set. */
  disk: string;
  /** OVMF VARS template with the keys enrolled (copied to `<state>/vars.fd`). */
  vars: string;
  /** Attach a swtpm TPM 2.0 (default true). */
  tpm?: boolean;
  /** RAM in MiB (default 2048). */
  ramMiB?: number;
  /** vCPUs (default 2); with {@link threads} the number of cores. */
  cpus?: number;
  /** Threads per core (`-smp <cpus×threads>,cores=<cpus>,threads=<threads>`). */
  threads?: number;
  /**
   * Serial console: `file` (default) writes `<stateDir>/console.log`; `stdio` writes it to QEMU's
   * stdout for a caller that reads it as a stream (the launcher's nodes).
   */
  serial?: "file" | "stdio";
  /** A NIC on an existing TAP device with this MAC (virtio-net; testing.md §2.3). */
  nic?: { tap: string; mac: string };
  /** `tcg` (default) or `kvm`. */
  accel?: "tcg" | "kvm";
  /** Discard disk writes (QEMU `snapshot=on`), so the image can be booted again unchanged. */
  snapshot?: boolean;
  /** NodeParameters file passed through fw_cfg (node.md §6: wins over the ESP copy). */
  parameters?: string;
  /**
   * Further disks after the node disk, read-only (a write-protected stick): installer media
   * (image.md §10). The installer never picks them as its target (not writable, and the medium's
   * own disk is excluded by name anyway).
   */
  media?: string[];
  /** Extra QEMU arguments (network devices, fw_cfg files). */
  extraArgs?: string[];
}

/** A running VM. */
export interface Vm {
  /** `performance.now()` right before QEMU was spawned. */
  startedAt: number;
  /** Path of the serial console log. */
  consoleLog: string;
  /** The serial console output so far. */
  console(): string;
  /**
   * Resolves with the match and the milliseconds since QEMU start when `re` appears in the
   * console's complete lines (a line still being written is not matched until it ends, unless
   * QEMU exited); rejects after `timeoutMs` (or when QEMU exits) with the console tail.
   */
  waitFor(re: RegExp, timeoutMs: number): Promise<{ match: RegExpMatchArray; ms: number }>;
  /** True while QEMU runs. */
  running(): boolean;
  /** Stops QEMU and swtpm; resolves when both are gone. */
  stop(): Promise<void>;
}

/** The QEMU command line for `opts` (testing.md §2.3, without network unless given). */
export function qemuArgs(opts: VmOptions, tpmSocket?: string): string[] {
  const accel = opts.accel ?? "tcg";
  const args = [
    "-machine",
    "q35,smm=on",
    "-accel",
    accel,
    "-cpu",
    accel === "kvm" ? "host" : "max",
    "-m",
    String(opts.ramMiB ?? 2048),
    "-smp",
    opts.threads
      ? `${(opts.cpus ?? 2) * opts.threads},cores=${opts.cpus ?? 2},threads=${opts.threads}`
      : String(opts.cpus ?? 2),
    "-display",
    "none",
    "-nodefaults",
    "-no-user-config",
    "-no-reboot",
    "-global",
    "driver=cfi.pflash01,property=secure,value=on",
    "-drive",
    `if=pflash,format=raw,unit=0,readonly=on,file=${OVMF_CODE}`,
    "-drive",
    `if=pflash,format=raw,unit=1,file=${opts.stateDir}/vars.fd`,
    "-drive",
    `if=virtio,format=raw,cache=unsafe,file=${opts.disk}` +
    (opts.snapshot ? ",snapshot=on" : ""),
    ...(opts.media ?? []).flatMap((m) => ["-drive", `if=virtio,format=raw,readonly=on,file=${m}`]),
    "-device",
    "virtio-rng-pci",
    "-serial",
    opts.serial === "stdio" ? "stdio" : `file:${opts.stateDir}/console.log`,
  ];
  if (opts.nic) {
    args.push(
      "-netdev",
      `tap,id=n0,ifname=${opts.nic.tap},script=no,downscript=no`,
      "-device",
      `virtio-net-pci,netdev=n0,mac=${opts.nic.mac}`,
    );
  }
  if (tpmSocket) {
    args.push(
      "-chardev",
      `socket,id=chrtpm,path=${tpmSocket}`,
      "-tpmdev",
      "emulator,id=tpm0,chardev=chrtpm",
      "-device",
      "tpm-tis,tpmdev=tpm0",
    );
  }
  if (opts.parameters) {
    args.push("-fw_cfg", `name=dev.monogon.metropolis/parameters.pb,file=${opts.parameters}`);
  }
  if (!opts.nic && !opts.extraArgs?.some((a) => a.startsWith("-netdev") || a === "-nic")) {
    args.push("-nic", "none");
  }
  return [...args, ...(opts.extraArgs ?? [])];
}

/**
 * `re` matched against the console's complete lines, or against all of it once QEMU `exited`:
 * a pattern ending in `.*` must not match a line still being written (it did, and a test read
 * "… TPM2_Unseal: TPM_RC_POLI").
 */
export function matchConsole(text: string, re: RegExp, exited: boolean): RegExpMatchArray | null {
  return (exited ? text : text.slice(0, text.lastIndexOf("\n") + 1)).match(re);
}

/** Starts a VM (and its swtpm). */
export async function startVm(opts: VmOptions): Promise<Vm> {
  if (!opts.stateDir.startsWith("/")) throw new Error(`vm: stateDir must be absolute`);
  await Deno.mkdir(opts.stateDir, { recursive: true });
  await Deno.copyFile(opts.vars, `${opts.stateDir}/vars.fd`);
  const consoleLog = `${opts.stateDir}/console.log`;
  await Deno.writeFile(consoleLog, new Uint8Array());
  let tpm: Swtpm | undefined;
  if (opts.tpm !== false) tpm = await startSwtpm(`${opts.stateDir}/tpm`);
  const startedAt = performance.now();
  // Killed by the kernel if this process dies before stopping it (a test's leftover VM would
  // keep two cores busy).
  const [cmd, ...args] = diesWithParent(["qemu-system-x86_64", ...qemuArgs(opts, tpm?.socket)]);
  const child = new Deno.Command(cmd, {
    args,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let alive = true;
  let stderr = "";
  const exited = (async () => {
    const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      stderr += value;
    }
    await child.status;
    alive = false;
  })();
  const read = () => {
    try {
      return new TextDecoder().decode(Deno.readFileSync(consoleLog));
    } catch {
      return "";
    }
  };
  const tail = () => {
    const lines = read().replaceAll("\r", "").split("\n").slice(-15).join("\n");
    return `${lines}${stderr ? `\nqemu stderr: ${stderr.trim()}` : ""}`;
  };
  return {
    startedAt,
    consoleLog,
    console: read,
    running: () => alive,
    async waitFor(re, timeoutMs) {
      const deadline = performance.now() + timeoutMs;
      for (;;) {
        const wasAlive = alive; // sampled before reading, so output written before exit is seen
        const m = matchConsole(read(), re, !wasAlive);
        if (m) return { match: m, ms: performance.now() - startedAt };
        if (!wasAlive) {
          throw new Error(`vm: QEMU exited before ${re} appeared; console tail:\n${tail()}`);
        }
        if (performance.now() > deadline) {
          throw new Error(
            `vm: ${re} did not appear within ${timeoutMs} ms; console tail:\n${tail()}`,
          );
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async stop() {
      if (alive) {
        try {
          child.kill("SIGKILL");
        } catch { /* already exited */ }
      }
      await exited;
      await tpm?.stop();
    },
  };
}
