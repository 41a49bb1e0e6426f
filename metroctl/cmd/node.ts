/**
 * `node describe|list|add|remove|decommission|delete` (metroctl.md §4.8): cluster-side node
 * management through the curator leader. Node-local commands live in node_local.ts.
 */
import { Management } from "../../proto/gen/metropolis/proto/api/management_pb.ts";
import type { Command, FlagSpec } from "../core/args.ts";
import type { Context } from "../core/context.ts";
import { connectCluster } from "../core/dial.ts";
import { CliError, describeError, step, UsageError } from "../core/errors.ts";
import { parseRoleName, roleInfo, type RoleName, ROLES } from "../../node/core/constants/roles.ts";
import { DESCRIBE_COLUMNS, describeRow, getNodes, narrow, nodeJson } from "../core/nodes.ts";
import { formatDocument, formatTable, type Row } from "../core/output.ts";
import { logsCommand, poweroffCommand, rebootCommand } from "./node_local.ts";
import { metricsCommand } from "./node_metrics.ts";
import { updateCommand } from "./node_update.ts";

/** A canonical role name. */
export type Role = RoleName;

/** Canonical role for a (case-insensitive, long or short) name; usage error otherwise. */
export function parseRole(name: string, command: string): Role {
  const role = parseRoleName(name);
  if (!role) throw new UsageError(`unknown role: ${name}`, command);
  return role;
}

const filterFlag: FlagSpec = {
  name: "filter",
  kind: "string",
  help: "CEL filter evaluated by the server, e.g. 'node.state == NODE_STATE_UP'",
};
const columnsFlag: FlagSpec = {
  name: "columns",
  kind: "string",
  help: `comma-separated columns to show (${DESCRIBE_COLUMNS.join(", ")})`,
};

function selectColumns(ctx: Context): string[] | undefined {
  const spec = ctx.str("columns");
  if (!spec) return undefined;
  return spec.split(",").map((c) => c.trim()).filter((c) => c).map((c) => {
    const k = DESCRIBE_COLUMNS.find((d) => d === c.toLowerCase());
    if (!k) {
      throw new UsageError(
        `unknown column "${c}": known columns are ${DESCRIBE_COLUMNS.join(", ")}`,
        ctx.command,
      );
    }
    return k;
  });
}

async function listing(ctx: Context, idsOnly: boolean): Promise<void> {
  const columns = idsOnly ? ["node id"] : selectColumns(ctx);
  const cluster = await connectCluster(ctx);
  try {
    const nodes = narrow(await getNodes(cluster, ctx.str("filter")), ctx.args);
    if (ctx.format !== "plaintext") {
      const doc = idsOnly ? nodes.map((n) => n.id) : nodes.map(nodeJson);
      await ctx.write(formatDocument(doc, ctx.format));
      return;
    }
    const rows: Row[] = nodes.map(describeRow);
    let cols = columns;
    if (!columns) {
      // Union of present keys, in the canonical order (version/labels only when present).
      cols = DESCRIBE_COLUMNS.filter((c) => rows.some((r) => c in r));
      if (rows.length === 0) cols = [...DESCRIBE_COLUMNS];
    }
    await ctx.write(formatTable(rows, cols));
  } finally {
    await cluster.close();
  }
}

async function changeRole(ctx: Context, value: boolean): Promise<void> {
  const [name, ...ids] = ctx.args;
  const role = parseRole(name, ctx.command);
  const field = roleInfo(role).field;
  const cluster = await connectCluster(ctx);
  let failed = 0;
  let last = "";
  try {
    const mgmt = await cluster.client(Management);
    for (const id of ids) {
      try {
        await mgmt.updateNodeRoles({ node: { case: "id", value: id }, [field]: value });
        ctx.stderr(`Updated node ${id}.`);
      } catch (e) {
        failed++;
        last = `${id}: ${describeError(e)}`;
        ctx.stderr(`Couldn't update node "${id}": ${describeError(e)}`);
      }
    }
  } finally {
    await cluster.close();
  }
  if (failed) {
    throw new CliError(`updating roles failed for ${failed} of ${ids.length} nodes (${last})`);
  }
}

async function changeLabels(ctx: Context, upsert: boolean): Promise<void> {
  const [id, ...items] = ctx.args;
  const pairs = upsert
    ? items.map((kv) => {
      const i = kv.indexOf("=");
      if (i <= 0) throw new UsageError(`invalid label "${kv}": want key=value`, ctx.command);
      return { key: kv.slice(0, i), value: kv.slice(i + 1) };
    })
    : [];
  const cluster = await connectCluster(ctx);
  try {
    const mgmt = await cluster.client(Management);
    await step(`update labels of ${id}`, () =>
      mgmt.updateNodeLabels(
        upsert
          ? { node: { case: "id", value: id }, upsert: pairs }
          : { node: { case: "id", value: id }, delete: items },
      ));
    ctx.stderr(`Updated node ${id}.`);
  } finally {
    await cluster.close();
  }
}

async function decommission(ctx: Context): Promise<void> {
  const id = ctx.args[0];
  const cluster = await connectCluster(ctx);
  try {
    const mgmt = await cluster.client(Management);
    await step(
      `decommission ${id}`,
      () => mgmt.decommissionNode({ node: { case: "id", value: id } }),
    );
    ctx.stderr(`Decommissioned node ${id}.`);
  } finally {
    await cluster.close();
  }
}

async function deleteNode(ctx: Context): Promise<void> {
  const id = ctx.args[0];
  const cluster = await connectCluster(ctx);
  try {
    const nodes = await getNodes(cluster, `node.id == ${JSON.stringify(id)}`);
    if (nodes.length === 0) throw new CliError(`could not find node with id: ${id}`);
    ctx.stderr(`deleting node: ${id} (${nodes[0].status?.externalAddress || "unknown"})`);
    const mgmt = await cluster.client(Management);
    await step(`delete ${id}`, () =>
      mgmt.deleteNode({
        node: { case: "id", value: id },
        ...(ctx.bool("bypass-has-roles") ? { safetyBypassHasRoles: {} } : {}),
        ...(ctx.bool("bypass-not-decommissioned") ? { safetyBypassNotDecommissioned: {} } : {}),
      }));
  } finally {
    await cluster.close();
  }
}

const roleHelp = `roles: ${ROLES.map((r) => `${r.name} (${r.short})`).join(", ")}`;

/** The `node` command group. */
export const nodeCommand: Command = {
  name: "node",
  summary: "Manage cluster nodes",
  children: [
    {
      name: "describe",
      summary: "Describe cluster nodes",
      usage: "[node-id...|all] [flags]",
      flags: [filterFlag, columnsFlag],
      examples: [
        "metroctl node describe",
        "metroctl node describe --filter 'node.state == NODE_STATE_UP' --columns 'node id,roles'",
      ],
      run: (ctx) => listing(ctx, false),
    },
    {
      name: "list",
      summary: "List cluster node IDs",
      usage: "[node-id...|all] [flags]",
      flags: [filterFlag],
      run: (ctx) => listing(ctx, true),
    },
    {
      name: "add",
      summary: "Add roles or labels to nodes",
      children: [
        {
          name: "role",
          summary: "Add a role to nodes",
          description: `Adds a role to nodes; ${roleHelp}.`,
          usage: "<role> <node-id>...",
          args: { min: 2 },
          run: (ctx) => changeRole(ctx, true),
        },
        {
          name: "label",
          summary: "Add or replace labels of a node",
          usage: "<node-id> <key=value>...",
          args: { min: 2 },
          run: (ctx) => changeLabels(ctx, true),
        },
      ],
    },
    {
      name: "remove",
      summary: "Remove roles or labels from nodes",
      children: [
        {
          name: "role",
          summary: "Remove a role from nodes",
          description: `Removes a role from nodes; ${roleHelp}.`,
          usage: "<role> <node-id>...",
          args: { min: 2 },
          run: (ctx) => changeRole(ctx, false),
        },
        {
          name: "label",
          summary: "Remove labels of a node",
          usage: "<node-id> <key>...",
          args: { min: 2 },
          run: (ctx) => changeLabels(ctx, false),
        },
      ],
    },
    {
      name: "decommission",
      summary: "Decommission a node",
      usage: "<node-id>",
      args: { min: 1, max: 1 },
      run: decommission,
    },
    {
      name: "delete",
      summary: "Delete a node from the cluster",
      usage: "<node-id> [flags]",
      args: { min: 1, max: 1 },
      flags: [
        { name: "bypass-has-roles", kind: "bool", help: "delete even if the node still has roles" },
        {
          name: "bypass-not-decommissioned",
          kind: "bool",
          help: "delete even if the node is not decommissioned",
        },
      ],
      run: deleteNode,
    },
    logsCommand,
    metricsCommand,
    updateCommand,
    rebootCommand,
    poweroffCommand,
  ],
};
