/**
 * The node roles (node.md §13) in one place: their names as operators write them, the field of
 * `NodeRoles` that carries each, and the short forms metroctl accepts. Everything that names a
 * role (curator messages, metroctl, the roleserver, Kubernetes labels, tests) derives it from here.
 */
import type { NodeRoles } from "../../../proto/gen/metropolis/proto/common/common_pb.ts";

/** One role: operator-facing name, `NodeRoles` field, short alias. */
export interface RoleInfo {
  readonly name: RoleName;
  readonly field: "consensusMember" | "kubernetesController" | "kubernetesWorker";
  readonly short: string;
}

/** Role names as operators and Kubernetes labels spell them. */
export type RoleName = "ConsensusMember" | "KubernetesController" | "KubernetesWorker";

/** Every role, in the order they are listed to users. */
export const ROLES: readonly RoleInfo[] = [
  { name: "ConsensusMember", field: "consensusMember", short: "cm" },
  { name: "KubernetesController", field: "kubernetesController", short: "kc" },
  { name: "KubernetesWorker", field: "kubernetesWorker", short: "kw" },
];

/** The role named `name`. */
export function roleInfo(name: RoleName): RoleInfo {
  return ROLES.find((r) => r.name === name)!;
}

/** Whether `roles` holds the role `name`. */
export function hasRole(roles: Partial<NodeRoles> | undefined, name: RoleName): boolean {
  return !!roles?.[roleInfo(name).field];
}

/** Names of the roles held, in {@link ROLES} order. */
export function roleNames(roles: Partial<NodeRoles> | undefined): RoleName[] {
  return ROLES.filter((r) => !!roles?.[r.field]).map((r) => r.name);
}

/** Parses a role as a user may write it: full name or short form, any case. */
export function parseRoleName(word: string): RoleName | undefined {
  const w = word.toLowerCase();
  return ROLES.find((r) => r.name.toLowerCase() === w || r.short === w)?.name;
}
