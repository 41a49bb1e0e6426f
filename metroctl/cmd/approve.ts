/** `approve [node-id]` (metroctl.md §4.1): list NEW nodes or approve one. */
import { Management } from "../../proto/gen/metropolis/proto/api/management_pb.ts";
import type { Command } from "../core/args.ts";
import { connectCluster } from "../core/dial.ts";
import { CliError, step } from "../core/errors.ts";
import { getNodes } from "../core/nodes.ts";
import { formatDocument } from "../core/output.ts";

/** The `approve` command. */
export const approveCommand: Command = {
  name: "approve",
  summary: "Approve a node waiting to join the cluster",
  description:
    "Without an argument, lists nodes waiting for approval (state NEW). With a node ID, approves that node.",
  usage: "[node-id]",
  args: { max: 1 },
  async run(ctx) {
    const cluster = await connectCluster(ctx);
    try {
      const pending = await getNodes(cluster, "node.state == NODE_STATE_NEW");
      const id = ctx.args[0];
      if (id === undefined) {
        if (ctx.format !== "plaintext") {
          await ctx.write(formatDocument(pending.map((n) => n.id), ctx.format));
        } else if (pending.length === 0) {
          ctx.stderr("There are no nodes pending approval at this time.");
        } else await ctx.write(pending.map((n) => n.id + "\n").join(""));
        return;
      }
      const node = pending.find((n) => n.id === id);
      if (!node) throw new CliError(`couldn't find a new node matching id ${id}`);
      const mgmt = await cluster.client(Management);
      await step(`approve ${id}`, () => mgmt.approveNode({ pubkey: node.pubkey }));
      ctx.stderr(`Approved node ${id}.`);
    } finally {
      await cluster.close();
    }
  },
};
