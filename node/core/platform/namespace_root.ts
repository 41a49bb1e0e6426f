/**
 * The namespace node's root (node.md §2 "Namespace node", testing.md §2.2).
 *
 * Contract of {@link prepareNamespaceRoot}: called once by the agent's bring-up on the
 * `namespace` platform, before the bring-up mounts, inside the node's private mount namespace;
 * when it returns, every mount point of {@link bringUpMounts} exists and `<state>` is usable.
 *
 * What it does today: checks `<state>` and creates the missing mount points (on a host that is
 * only `/ephemeral`). What it will do once the launcher issue builds the private root here: a
 * tmpfs root with read-only binds of the host's `/usr` (plus the merged-usr symlinks), a tmpfs
 * `/etc` with copies of `passwd`, `group`, `nsswitch.conf`, `ssl/`, `/agent` = the repository's
 * `dist/`, `/esp` = `<state>/esp`, `/data` = `<state>/data` or its loop image, a minimal `/dev`,
 * then `pivot_root` into it; the callers stay the same.
 */
import type { AgentFlags } from "./flags.ts";
import { bringUpMounts } from "./mounts.ts";

/** Prepares the namespace node's root; throws a one-line Error when `<state>` is unusable. */
export function prepareNamespaceRoot(flags: AgentFlags, log: (line: string) => void): void {
  if (!flags.state) throw new Error("namespace platform without --state");
  let st: Deno.FileInfo;
  try {
    st = Deno.statSync(flags.state);
  } catch (e) {
    throw new Error(`--state=${flags.state}: ${(e as Error).message.split("\n")[0]}`);
  }
  if (!st.isDirectory) throw new Error(`--state=${flags.state}: not a directory`);
  for (const m of bringUpMounts("namespace")) {
    try {
      Deno.statSync(m.target);
    } catch {
      Deno.mkdirSync(m.target, { recursive: true, mode: 0o755 });
      log(`created mount point ${m.target}`);
    }
  }
}
