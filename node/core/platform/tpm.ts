/**
 * The node's TPM (node.md §2 step 5, §3), opened by the root runnable: `vm` → `/dev/tpmrm0` if
 * present; `namespace` → the swtpm socket of `--tpm-socket` (as seen after the bring-up, which
 * binds it into the node's root), else none.
 * @module
 */
import { connectUnix, openDevice, Tpm, type Transport } from "../../base/tpm/mod.ts";
import type { AgentFlags } from "./flags.ts";

/** The VM's TPM: the kernel's resource-managed device. */
export const TPM_DEVICE = "/dev/tpmrm0";

const firstLine = (e: unknown) => (e as Error).message.split("\n")[0];

let opened: Promise<Tpm | undefined> | undefined;

/**
 * Opens and checks the TPM (one GetRandom round trip), logging which TPM is used or why there
 * is none. Opens once per process: a restarted root runnable gets the same TPM (a swtpm socket
 * serves one connection at a time).
 */
export function openTpm(flags: AgentFlags, log: (line: string) => void): Promise<Tpm | undefined> {
  return opened ??= open(flags, log);
}

async function open(flags: AgentFlags, log: (line: string) => void): Promise<Tpm | undefined> {
  let transport: Transport;
  if (flags.platform === "vm") {
    try {
      transport = await openDevice(TPM_DEVICE);
    } catch (e) {
      log(
        e instanceof Deno.errors.NotFound
          ? `TPM: no ${TPM_DEVICE}: none`
          : `TPM: ${TPM_DEVICE} unusable (${firstLine(e)}): none`,
      );
      return undefined;
    }
  } else if (flags.tpmSocket) {
    try {
      transport = await connectUnix(flags.tpmSocket);
    } catch (e) {
      log(`TPM: cannot connect ${flags.tpmSocket} (${firstLine(e)}): none`);
      return undefined;
    }
  } else {
    log("TPM: none (no --tpm-socket)");
    return undefined;
  }
  const tpm = new Tpm(transport);
  try {
    await tpm.getRandom(8);
  } catch (e) {
    log(`TPM: ${tpm.description} does not answer (${firstLine(e)}): none`);
    tpm.close();
    return undefined;
  }
  log(`TPM: using ${tpm.description}`);
  return tpm;
}
