/**
 * Seam between VM / bare-metal nodes and namespace nodes (node.md §3): flags, bring-up mounts
 * and the namespace node's root.
 */
export { type AgentFlags, FlagError, parseAgentFlags, type PlatformKind } from "./flags.ts";
export { bringUpMounts, mountAll, type MountSpec } from "./mounts.ts";
export { agentFiles, prepareNamespaceRoot } from "./namespace_root.ts";
export { AGENT_DIR, rootPlan, type RootStep, TPM_SOCKET } from "./root_plan.ts";
export { dataImagePath, dataSource } from "./storage.ts";
export { hasSysResource, type PlatformWorkerHost, workerHost } from "./worker_host.ts";
