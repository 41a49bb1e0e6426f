/** `version` (metroctl.md §4.9). */
import type { Command } from "../core/args.ts";
import { OS_VERSION } from "../../node/base/osimage/version.ts";

/** Version of this metroctl: the OS version it was built with (one definition). */
export const METROCTL_VERSION = OS_VERSION;

/** The `version` command. */
export const versionCommand: Command = {
  name: "version",
  summary: "Print the metroctl version",
  args: { max: 0 },
  async run(ctx) {
    await ctx.write(`metroctl ${METROCTL_VERSION}\n`);
  },
};
