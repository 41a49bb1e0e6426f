/**
 * Accelerator choice (testing.md §2.3): KVM only when `/dev/kvm` opens and a probe boot of the
 * Secure-Boot OVMF (q35, SMM) with `-accel kvm` reaches the firmware boot manager within 10 s;
 * otherwise TCG. The answer is cached per host boot ID. On the project's machines `/dev/kvm` is
 * PVM and fails the probe (workplace.md §6).
 * @module
 */
import { OVMF_CODE } from "./qemu.ts";

const OVMF_VARS = "/usr/share/OVMF/OVMF_VARS_4M.fd";

async function probeKvm(): Promise<boolean> {
  try {
    (await Deno.open("/dev/kvm", { read: true, write: true })).close();
  } catch {
    return false;
  }
  const dir = await Deno.makeTempDir({ prefix: "mkimg-kvmprobe-" });
  try {
    await Deno.copyFile(OVMF_VARS, `${dir}/vars.fd`);
    const child = new Deno.Command("qemu-system-x86_64", {
      args: [
        "-machine",
        "q35,smm=on",
        "-accel",
        "kvm",
        "-cpu",
        "host",
        "-m",
        "256",
        "-display",
        "none",
        "-nodefaults",
        "-no-user-config",
        "-nic",
        "none",
        "-global",
        "driver=cfi.pflash01,property=secure,value=on",
        "-drive",
        `if=pflash,format=raw,unit=0,readonly=on,file=${OVMF_CODE}`,
        "-drive",
        `if=pflash,format=raw,unit=1,file=${dir}/vars.fd`,
        "-serial",
        `file:${dir}/console.log`,
      ],
      stdout: "null",
      stderr: "null",
    }).spawn();
    const deadline = performance.now() + 10_000;
    let ok = false;
    while (performance.now() < deadline) {
      const text = await Deno.readTextFile(`${dir}/console.log`).catch(() => "");
      if (/BdsDxe/.test(text)) {
        ok = true;
        break;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    try {
      child.kill("SIGKILL");
    } catch { /* exited */ }
    await child.status;
    return ok;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** `kvm` or `tcg` for this host (`E2E_ACCEL=kvm|tcg` overrides). */
export async function detectAccel(): Promise<"kvm" | "tcg"> {
  const env = Deno.env.get("E2E_ACCEL");
  if (env === "kvm" || env === "tcg") return env;
  const bootId = (await Deno.readTextFile("/proc/sys/kernel/random/boot_id")).trim();
  const cache = `/tmp/metropolis-accel-${bootId}`;
  const cached = await Deno.readTextFile(cache).catch(() => "");
  if (cached === "kvm" || cached === "tcg") return cached;
  const accel = (await probeKvm()) ? "kvm" : "tcg";
  await Deno.writeTextFile(cache, accel);
  return accel;
}
