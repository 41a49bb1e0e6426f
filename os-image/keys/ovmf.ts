/**
 * OVMF VARS with the test PK/KEK/db enrolled and Secure Boot on, made non-interactively with
 * `virt-fw-vars` (python3-virt-firmware from bookworm-backports; byte-reproducible), image.md §8.
 * @module
 */
import { run } from "../lib/exec.ts";
import { OWNER_GUID, type TestKeys } from "./keys.ts";

/** Debian's 4 MiB OVMF VARS template. */
export const OVMF_VARS_TEMPLATE = "/usr/share/OVMF/OVMF_VARS_4M.fd";
/** Debian's Secure-Boot OVMF code (needs SMM). */
export const OVMF_CODE_SECBOOT = "/usr/share/OVMF/OVMF_CODE_4M.secboot.fd";

/** Writes `out` = VARS with PK, KEK and db (plus the extra db cert when `extraDb`). */
export async function ovmfVars(keys: TestKeys, out: string, extraDb = false): Promise<void> {
  const args = [
    "-i",
    OVMF_VARS_TEMPLATE,
    "-o",
    out,
    "--set-pk",
    OWNER_GUID,
    keys.PK.crt,
    "--add-kek",
    OWNER_GUID,
    keys.KEK.crt,
    "--add-db",
    OWNER_GUID,
    keys.db.crt,
  ];
  if (extraDb) args.push("--add-db", OWNER_GUID, keys.extraDb.crt);
  args.push("--sb");
  await run("virt-fw-vars", args);
}
