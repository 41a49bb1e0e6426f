/**
 * The node's TPM (node.md §2 step 5, §3), opened by the root runnable through the Platform: a
 * VM's `/dev/tpmrm0` if present; a namespace node's swtpm socket of `--tpm-socket` (as seen after
 * the bring-up, which binds it into the node's root), else none.
 * @module
 */
import { connectUnix, openDevice, Tpm, type Transport } from "../../base/tpm/mod.ts";

/** The VM's TPM: the kernel's resource-managed device. */
export const TPM_DEVICE = "/dev/tpmrm0";

const firstLine = (e: unknown) => (e as Error).message.split("\n")[0];

let opened: Promise<Tpm | undefined> | undefined;

/** Where a platform's TPM is: a character device, a swtpm socket, or nowhere (and why). */
export type TpmSource =
  | { device: string }
  | { socket: string }
  | { none: string };

/**
 * Opens and checks the TPM at `source` (one GetRandom round trip), logging which TPM is used or
 * why there is none. Opens once per process: a restarted root runnable gets the same TPM (a
 * swtpm socket serves one connection at a time).
 */
export function openTpm(source: TpmSource, log: (line: string) => void): Promise<Tpm | undefined> {
  return opened ??= open(source, log);
}

async function open(source: TpmSource, log: (line: string) => void): Promise<Tpm | undefined> {
  let transport: Transport;
  if ("device" in source) {
    try {
      transport = await openDevice(source.device);
    } catch (e) {
      log(
        e instanceof Deno.errors.NotFound
          ? `TPM: no ${source.device}: none`
          : `TPM: ${source.device} unusable (${firstLine(e)}): none`,
      );
      return undefined;
    }
  } else if ("socket" in source) {
    try {
      transport = await connectUnix(source.socket);
    } catch (e) {
      log(`TPM: cannot connect ${source.socket} (${firstLine(e)}): none`);
      return undefined;
    }
  } else {
    log(`TPM: none (${source.none})`);
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
