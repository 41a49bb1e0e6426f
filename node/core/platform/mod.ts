/**
 * Seam between VM / bare-metal nodes and namespace nodes (node.md §3): the {@link Platform} that
 * node/main.ts builds once from the flags (vm.ts, namespace.ts), the bring-up mounts and the
 * namespace node's root.
 */
export { type AgentFlags, FlagError, parseAgentFlags, type PlatformKind } from "./flags.ts";
export {
  bringUpMounts,
  mountAll,
  type MountOptions,
  type MountSpec,
  namespaceMounts,
  vmMounts,
} from "./mounts.ts";
export { agentFiles, prepareNamespaceRoot } from "./namespace_root.ts";
export { NAMESPACE_CAPABILITIES, namespacePlatform } from "./namespace.ts";
export {
  type Capabilities,
  checkStorageSecurity,
  type ConsoleSink,
  type DataKey,
  type DataStorage,
  type EspStorage,
  type Platform,
  type PowerControl,
  type RebootKind,
  storageSecurities,
} from "./platform.ts";
export { AGENT_DIR, rootPlan, type RootStep, TPM_SOCKET } from "./root_plan.ts";
export { dataImagePath, dataSource } from "./storage.ts";
export { VM_CAPABILITIES, vmPlatform } from "./vm.ts";
export { hasSysResource, type PlatformWorkerHost, workerHost } from "./worker_host.ts";
