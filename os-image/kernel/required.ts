/**
 * The kernel options every node kernel must have built in (image.md §2), and the check that
 * fails the build when the final `.config` lacks one.
 * @module
 */

/** Options that must be `=y` in the final `.config` (without the `CONFIG_` prefix). */
export const REQUIRED_OPTIONS: readonly string[] = [
  // boot
  "EFI",
  "EFI_STUB",
  "EFI_HANDOVER_PROTOCOL",
  "PVH",
  "RELOCATABLE",
  "DEVTMPFS",
  "DEVTMPFS_MOUNT",
  "BLK_DEV_INITRD",
  "RD_LZ4",
  "FW_CFG_SYSFS",
  "EFIVAR_FS",
  "KEXEC_FILE",
  "KEXEC_SIG",
  "KEXEC_BZIMAGE_VERIFY_SIG",
  "INTEGRITY_PLATFORM_KEYRING",
  "LOAD_UEFI_KEYS",
  // device mapper
  "MD",
  "BLK_DEV_DM",
  "DM_INIT",
  "DM_VERITY",
  "DM_CRYPT",
  "DM_INTEGRITY",
  // filesystems
  "EROFS_FS",
  "EROFS_FS_ZIP",
  "XFS_FS",
  "XFS_QUOTA",
  "XFS_POSIX_ACL",
  "VFAT_FS",
  "NLS_CODEPAGE_437",
  "NLS_ISO8859_1",
  "TMPFS",
  "TMPFS_POSIX_ACL",
  "OVERLAY_FS",
  "PROC_FS",
  "SYSFS",
  "EFI_PARTITION",
  // block / buses
  "VIRTIO_PCI",
  "VIRTIO_BLK",
  "VIRTIO_NET",
  "HW_RANDOM_VIRTIO",
  "SATA_AHCI",
  "BLK_DEV_NVME",
  "USB_XHCI_HCD",
  "USB_EHCI_HCD",
  "USB_STORAGE",
  "BLK_DEV_LOOP",
  // TPM
  "TCG_TPM",
  "TCG_TIS",
  "TCG_CRB",
  // crypto
  "CRYPTO_SHA256",
  "CRYPTO_AES_NI_INTEL",
  "CRYPTO_XTS",
  "CRYPTO_GCM",
  "CRYPTO_USER_API_HASH",
  // network
  "PACKET",
  "UNIX",
  "INET",
  "IPV6",
  "WIREGUARD",
  "BRIDGE",
  "VETH",
  "VLAN_8021Q",
  "BONDING",
  "NETFILTER",
  "NF_CONNTRACK",
  "NF_NAT",
  "NF_TABLES",
  "NF_TABLES_INET",
  "NF_TABLES_IPV4",
  "NF_TABLES_IPV6",
  "NFT_CT",
  // kube-proxy's nftables mode picks a service endpoint with `numgen random mod N vmap`.
  "NFT_NUMGEN",
  "NFT_NAT",
  "NFT_MASQ",
  "NFT_REJECT",
  "NFT_FIB_INET",
  // containers
  "CGROUPS",
  "CGROUP_BPF",
  "CGROUP_PIDS",
  "CGROUP_CPUACCT",
  "CGROUP_DEVICE",
  "CGROUP_FREEZER",
  "CGROUP_SCHED",
  "FAIR_GROUP_SCHED",
  // runc writes cpu.max for every container; the file exists only with CFS bandwidth control.
  "CFS_BANDWIDTH",
  "CPUSETS",
  "MEMCG",
  "BLK_CGROUP",
  "BPF_SYSCALL",
  "NAMESPACES",
  "USER_NS",
  "PID_NS",
  "NET_NS",
  "IPC_NS",
  "UTS_NS",
  "SECCOMP",
  "SECCOMP_FILTER",
  "POSIX_MQUEUE",
  "KEYS",
  // security
  "SECURITY",
  "SECURITYFS",
  "SECURITY_LOCKDOWN_LSM",
  "SECURITY_LOCKDOWN_LSM_EARLY",
  "LOCK_DOWN_KERNEL_FORCE_INTEGRITY",
  "SECURITY_YAMA",
  "SECURITY_LANDLOCK",
  // consoles, misc
  "SERIAL_8250",
  "SERIAL_8250_CONSOLE",
  "VT",
  "VT_CONSOLE",
  "FB_EFI",
  "FRAMEBUFFER_CONSOLE",
  "RTC_DRV_CMOS",
  "PARAVIRT",
  "KVM_GUEST",
  "PSTORE",
  "EFI_VARS_PSTORE",
];

/** Exact string values required in the final `.config`. */
export const REQUIRED_VALUES: Readonly<Record<string, string>> = {
  LSM: '"landlock,lockdown,yama"',
};

/**
 * Returns one problem line per required option that the `.config` text does not satisfy
 * (empty when all are met). Also refuses loadable modules: a node kernel has none.
 */
export function checkConfig(config: string): string[] {
  const values = new Map<string, string>();
  for (const line of config.split("\n")) {
    const m = /^CONFIG_([A-Za-z0-9_]+)=(.*)$/.exec(line);
    if (m) values.set(m[1], m[2]);
  }
  const problems: string[] = [];
  for (const o of REQUIRED_OPTIONS) {
    const v = values.get(o);
    if (v !== "y") problems.push(`CONFIG_${o} must be =y, is ${v === undefined ? "unset" : v}`);
  }
  for (const [o, want] of Object.entries(REQUIRED_VALUES)) {
    const v = values.get(o);
    if (v !== want) problems.push(`CONFIG_${o} must be ${want}, is ${v ?? "unset"}`);
  }
  if (values.get("MODULES") === "y") problems.push("CONFIG_MODULES must be unset (no modules)");
  return problems;
}
