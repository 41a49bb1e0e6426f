/**
 * Permissions of `metropolis.proto.ext.Permission` (wire/metropolis.proto.ext.md) and who holds
 * them (node.md §10.3). Plain numbers so this module does not depend on generated code; the values
 * equal the generated enum's.
 */

/** Permission numbers, by their proto names without the `PERMISSION_` prefix. */
export const Permission = {
  GET_REGISTER_TICKET: 1,
  READ_CLUSTER_STATUS: 2,
  UPDATE_NODE_SELF: 3,
  APPROVE_NODE: 4,
  UPDATE_NODE_ROLES: 5,
  READ_NODE_LOGS: 6,
  UPDATE_NODE: 7,
  DECOMMISSION_NODE: 8,
  DELETE_NODE: 9,
  UPDATE_NODE_LABELS: 10,
  NODE_POWER_MANAGEMENT: 11,
  CONFIGURE_CLUSTER: 12,
} as const;

const NAMES = new Map<number, string>(
  Object.entries(Permission).map(([k, v]) => [v, `PERMISSION_${k}`]),
);

/** Proto name of a permission number, e.g. `PERMISSION_APPROVE_NODE`. */
export function permissionName(p: number): string {
  return NAMES.get(p) ?? `PERMISSION_${p}`;
}

/** Permissions held by node certificates. */
export const NODE_PERMISSIONS: ReadonlySet<number> = new Set([
  Permission.READ_CLUSTER_STATUS,
  Permission.UPDATE_NODE_SELF,
]);

/** Permissions held by user certificates (`owner`): all twelve. */
export const USER_PERMISSIONS: ReadonlySet<number> = new Set(Object.values(Permission));
