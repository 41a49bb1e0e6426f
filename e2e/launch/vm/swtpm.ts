/**
 * A software TPM 2.0 for one VM boot (workplace.md §8): provisioned once per state directory
 * with EK and platform certificates, then one `swtpm socket --terminate` per boot (it exits when
 * QEMU disconnects, so PCRs start fresh on every boot).
 * @module
 */

/** A running swtpm for one boot. */
export interface Swtpm {
  /** The control socket QEMU connects to. */
  socket: string;
  /** Stops swtpm if it is still running. */
  stop(): Promise<void>;
}

async function exec(cmd: string, args: string[]): Promise<void> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  if (!out.success) {
    const err = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-2).join(" | ");
    throw new Error(`${cmd} failed (exit ${out.code}): ${err}`);
  }
}

/** Provisions `dir` (absolute) once and starts swtpm for one boot. */
export async function startSwtpm(dir: string): Promise<Swtpm> {
  if (!dir.startsWith("/")) throw new Error(`swtpm: state directory must be absolute: ${dir}`);
  await Deno.mkdir(dir, { recursive: true });
  try {
    await Deno.stat(`${dir}/tpm2-00.permall`);
  } catch {
    await exec("swtpm_setup", [
      "--tpm2",
      "--tpmstate",
      dir,
      "--create-ek-cert",
      "--create-platform-cert",
      "--lock-nvram",
      "--overwrite",
    ]);
  }
  const socket = `${dir}/swtpm-sock`;
  await Deno.remove(socket).catch(() => {});
  await Deno.remove(`${dir}/swtpm.pid`).catch(() => {});
  await exec("swtpm", [
    "socket",
    "--tpm2",
    "--tpmstate",
    `dir=${dir}`,
    "--ctrl",
    `type=unixio,path=${socket}`,
    "--log",
    `level=1,file=${dir}/swtpm.log`,
    "--terminate",
    "--daemon",
    "--pid",
    `file=${dir}/swtpm.pid`,
  ]);
  return {
    socket,
    async stop() {
      const pid = Number((await Deno.readTextFile(`${dir}/swtpm.pid`).catch(() => "")).trim());
      if (!pid) return;
      // Only our own daemon, by the pid it recorded, and only if it still is swtpm.
      const cmd = await Deno.readTextFile(`/proc/${pid}/cmdline`).catch(() => "");
      if (cmd.startsWith("swtpm\0") && cmd.includes(dir)) {
        try {
          Deno.kill(pid, "SIGTERM");
        } catch { /* already gone */ }
      }
    },
  };
}
