/**
 * Every TCP/UDP port a node uses, in one table (node.md §14, §17; kubernetes.md §5, §7, §8, §10).
 * The curator, node management, metrics, metroctl, the launcher and the Kubernetes components
 * import their port from here.
 */
export const PORTS = {
  /** Curator (Cluster API) on ConsensusMembers. */
  curator: 7835,
  /** etcd peer traffic. */
  consensusPeer: 7836,
  /** clusternet WireGuard (UDP). */
  clusternet: 7838,
  /** NodeManagement. */
  nodeManagement: 7839,
  /** Metrics HTTPS proxy. */
  metrics: 7840,
  /** node_exporter on loopback. */
  nodeExporter: 7841,
  /** etcd metrics on loopback. */
  metricsEtcd: 7842,
  metricsScheduler: 7843,
  metricsControllerManager: 7844,
  metricsApiserver: 7845,
  metricsContainerd: 7846,
  /** kube-apiserver on controllers (all interfaces). */
  apiserver: 6443,
  /** authproxy: users' kubectl with Metropolis certificates (controllers). */
  authproxy: 6444,
  /** apiproxy: workers' components reach an apiserver through 127.0.0.1:6445. */
  apiproxy: 6445,
} as const;

/** Networks and names of the Kubernetes side (kubernetes.md §3). */
export const KUBERNETES_NET = {
  /** Pod network; controller-manager allocates a /24 per node. */
  clusterCidr: "10.192.0.0/11",
  nodeCidrMaskSize: 24,
  /**
   * MTU of pod links and of the clusternet interface: a 1500-byte Ethernet MTU minus WireGuard's
   * 80 bytes of encapsulation (IPv6 outer header), so a pod packet fits the tunnel unfragmented.
   */
  podMtu: 1420,
  serviceCidr: "10.224.0.0/16",
  /** `kubernetes.default`. */
  apiserverServiceIp: "10.224.0.1",
  /** Cluster DNS, an address on every worker's `lo`. */
  clusterDns: "169.254.77.53",
  clusterDomain: "cluster.local",
  nodePortRange: "1-65535",
  serviceAccountIssuer: "https://metropolis.internal",
} as const;
