/**
 * The node's storage tree (node.md §8). The same absolute paths on every platform: the VM mounts
 * partitions there, a namespace node bind-mounts directories of its state directory.
 */

/** Mount point of the ESP. */
export const ESP = "/esp";
/** Mount point of the data partition. */
export const DATA = "/data";
/** tmpfs for this boot. */
export const EPHEMERAL = "/ephemeral";

/** Files on the ESP (§8.1), relative to its root. */
export const ESP_FILES = {
  parameters: "metropolis/parameters.pb",
  clusterDirectory: "metropolis/cluster_directory.pb",
  networkConfiguration: "metropolis/network_configuration.pb",
  sealedConfiguration: "metropolis/sealed_configuration.pb",
} as const;

/** QEMU fw_cfg path of NodeParameters (precedence 1, §6). */
export const FW_CFG_PARAMETERS =
  "/sys/firmware/qemu_fw_cfg/by_name/dev.monogon.metropolis/parameters.pb/raw";

/** Paths below /data (§8.2). */
export const DATA_PATHS = {
  credentials: `${DATA}/node/credentials`,
  roles: `${DATA}/node/roles.pb`,
  etcd: `${DATA}/etcd`,
} as const;

/** Paths below /ephemeral (§8.2). */
export const EPHEMERAL_PATHS = {
  consensus: `${EPHEMERAL}/consensus`,
  hosts: `${EPHEMERAL}/hosts`,
  resolvConf: `${EPHEMERAL}/resolv.conf`,
  machineId: `${EPHEMERAL}/machine-id`,
} as const;
