/** `version` (metroctl.md §4.9). */
import type { Command } from "../core/args.ts";

/** Version of this metroctl. */
export const METROCTL_VERSION = "0.1.0";

/** The `version` command. */
export const versionCommand: Command = {
  name: "version",
  summary: "Print the metroctl version",
  args: { max: 0 },
  async run(ctx) {
    await ctx.write(`metroctl ${METROCTL_VERSION}\n`);
  },
};
