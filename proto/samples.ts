/**
 * Test fixtures: one or more fully populated messages of every proto package, used by the
 * round-trip test and by the Python interop test. Together they cover bytes, every enum kind
 * (top-level and nested, including meaningful zero values), repeated scalars and messages,
 * oneofs, proto3 `optional` with an explicit `false`, int64/uint64, and the well-known types
 * Timestamp, Duration and FieldMask. (No .proto of the wire spec declares a map field.)
 */
import { create } from "@bufbuild/protobuf";
import type { DescMessage, Message } from "@bufbuild/protobuf";
import { DurationSchema, FieldMaskSchema, TimestampSchema } from "@bufbuild/protobuf/wkt";
import {
  Version_GitInformation_BuildTreeState,
  VersionSchema,
} from "./gen/version/spec/spec_pb.ts";
import {
  Bond_LACP_Rate,
  Bond_LACP_SelectionLogic,
  Bond_TransmitHashPolicy,
  IPv6Autoconfig_Privacy,
  NetSchema,
  VLAN_Protocol,
} from "./gen/osbase/net/proto/net_pb.ts";
import { LeveledLogSeverity, LogEntrySchema } from "./gen/osbase/logtree/proto/logtree_pb.ts";
import { AuthorizationSchema, Permission } from "./gen/metropolis/proto/ext/authorization_pb.ts";
import {
  ClusterConfiguration_StorageSecurityPolicy,
  ClusterConfiguration_TPMMode,
  ClusterConfigurationSchema,
  LogFilterSchema,
  NodeState,
  NodeStatusSchema,
  NodeStorageSecurity,
  NodeTPMUsage,
} from "./gen/metropolis/proto/common/common_pb.ts";
import {
  ConfigureClusterRequestSchema,
  LogsRequest_BacklogMode,
  LogsRequest_StreamMode,
  LogsRequestSchema,
  Node_Health,
  NodeSchema,
  RebootRequest_NextBoot,
  RebootRequest_Type,
  RebootRequestSchema,
  UpdateNodeRolesRequestSchema,
} from "./gen/metropolis/proto/api/management_pb.ts";
import {
  CertificateSAN_Validity,
  CertificateSANSchema,
  EscrowResponse_ProofRequest_Kind,
  EscrowResponseSchema,
} from "./gen/metropolis/proto/api/aaa_pb.ts";
import { NodeParametersSchema } from "./gen/metropolis/proto/api/configuration_pb.ts";
import { ImagePartSchema } from "./gen/metropolis/proto/api/debug_pb.ts";
import {
  GetConsensusStatusResponse_EtcdMember_Status,
  GetConsensusStatusResponseSchema,
  GetCurrentLeaderResponseSchema,
  IssueCertificateResponseSchema,
  WatchEvent_Progress,
  WatchEventSchema,
} from "./gen/metropolis/node/core/curator/proto/api/api_pb.ts";
import {
  InitialOwnerSchema,
  NodeSchema as PrivateNodeSchema,
  RegisterTicketSchema,
} from "./gen/metropolis/node/core/curator/proto/private/storage_pb.ts";
import { LeaderElectionValueSchema } from "./gen/metropolis/node/core/curator/proto/private/lock_pb.ts";
import { SealedConfigurationFileSchema } from "./gen/metropolis/proto/private/private_pb.ts";

/** A message together with its schema. */
export interface Sample {
  schema: DescMessage;
  message: Message;
}

function bytes(n: number, seed: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (seed + i * 7) & 0xff);
}

const version = create(VersionSchema, {
  release: { major: 0n, minor: 1n, patch: 2n },
  gitInformation: {
    commitHash: "1234abcd5678ef90",
    commitsSinceRelease: 12n,
    buildTreeState: Version_GitInformation_BuildTreeState.DIRTY,
  },
});

const status = create(NodeStatusSchema, {
  externalAddress: "10.8.0.2",
  timestamp: create(TimestampSchema, { seconds: 1_751_270_400n, nanos: 123_456_789 }),
  runningCurator: { port: 7835 },
  version,
  bootId: bytes(16, 3),
});

const roles = {
  kubernetesWorker: {},
  consensusMember: {
    caCertificate: bytes(40, 1),
    peerCertificate: bytes(41, 2),
    initialCrl: bytes(5, 9),
    peers: [{ name: "metropolis-aa", url: "https://10.8.0.2:7834" }, {
      name: "metropolis-bb",
      url: "https://10.8.0.3:7834",
    }],
  },
  kubernetesController: {},
};

const labels = { pairs: [{ key: "rack", value: "a1" }, { key: "zone", value: "z-2" }] };

const clusterConfiguration = create(ClusterConfigurationSchema, {
  tpmMode: ClusterConfiguration_TPMMode.TPM_MODE_BEST_EFFORT,
  storageSecurityPolicy:
    ClusterConfiguration_StorageSecurityPolicy.NEEDS_ENCRYPTION_AND_AUTHENTICATION,
  kubernetes: { nodeLabelsToSynchronize: [{ regexp: "^zone$" }, { regexp: "^rack" }] },
  clusterDomain: "cluster.internal",
});

/** The fixtures, keyed by a short description; every proto package appears at least once. */
export const SAMPLES: Record<string, Sample> = {
  "version.spec.Version": { schema: VersionSchema, message: version },
  "osbase.net.proto.Net (bond, vlan, device, routes)": {
    schema: NetSchema,
    message: create(NetSchema, {
      interface: [
        {
          name: "eth0",
          type: { case: "device", value: { hardwareAddress: "52:54:00:12:34:56", index: 1 } },
          ipv4Autoconfig: {},
        },
        {
          name: "bond0",
          type: {
            case: "bond",
            value: {
              memberInterface: ["eth0", "eth1"],
              minLinks: 1,
              linkMonitor: {
                case: "carrierMonitor",
                value: { pollingIntervalMs: 100, downDelayMs: 200, upDelayMs: 300 },
              },
              transmitHashPolicy: Bond_TransmitHashPolicy.LAYER3_4,
              mode: {
                case: "lacp",
                value: {
                  rate: Bond_LACP_Rate.FAST,
                  selectionLogic: Bond_LACP_SelectionLogic.COUNT,
                  actorSystemPriority: 65535,
                  actorSystemMac: "02:00:00:00:00:01",
                },
              },
            },
          },
          ipv6Autoconfig: { privacy: IPv6Autoconfig_Privacy.PREFER },
          address: ["192.0.2.10/24", "2001:db8::10/64"],
          mtu: 9000,
          route: [{ destination: "0.0.0.0/0", gatewayIp: "192.0.2.1", metric: 10 }],
        },
        {
          name: "vlan7",
          type: {
            case: "vlan",
            value: { parent: "bond0", id: 7, protocol: VLAN_Protocol.SVLAN },
          },
        },
      ],
      nameserver: [{ ip: "192.0.2.53" }, { ip: "2001:db8::53" }],
    }),
  },
  "osbase.logtree.proto.LogEntry (leveled)": {
    schema: LogEntrySchema,
    message: create(LogEntrySchema, {
      dn: "root.enrolment",
      kind: {
        case: "leveled",
        value: {
          lines: ["first", "second ünïcode"],
          timestamp: { seconds: 1n, nanos: 5 },
          severity: LeveledLogSeverity.WARNING,
          location: "main.ts:42",
        },
      },
    }),
  },
  "osbase.logtree.proto.LogEntry (raw)": {
    schema: LogEntrySchema,
    message: create(LogEntrySchema, {
      dn: "init",
      kind: { case: "raw", value: { data: "raw line", originalLength: 70000n } },
    }),
  },
  "metropolis.proto.ext.Authorization": {
    schema: AuthorizationSchema,
    message: create(AuthorizationSchema, {
      need: [Permission.READ_CLUSTER_STATUS, Permission.CONFIGURE_CLUSTER],
      allowUnauthenticated: true,
    }),
  },
  "metropolis.proto.common.NodeStatus": { schema: NodeStatusSchema, message: status },
  "metropolis.proto.common.LogFilter": {
    schema: LogFilterSchema,
    message: create(LogFilterSchema, {
      filter: {
        case: "leveledWithMinimumSeverity",
        value: { minimum: LeveledLogSeverity.ERROR },
      },
    }),
  },
  "metropolis.proto.api.Node": {
    schema: NodeSchema,
    message: create(NodeSchema, {
      pubkey: bytes(32, 11),
      state: NodeState.UP,
      status,
      roles,
      health: Node_Health.HEARTBEAT_TIMEOUT,
      timeSinceHeartbeat: create(DurationSchema, { seconds: 12n, nanos: 500_000_000 }),
      id: "metropolis-0b121920272e353c434a51585f666d74",
      tpmUsage: NodeTPMUsage.NODE_TPM_USAGE_PRESENT_AND_USED,
      labels,
    }),
  },
  "metropolis.proto.api.UpdateNodeRolesRequest (explicit false)": {
    schema: UpdateNodeRolesRequestSchema,
    message: create(UpdateNodeRolesRequestSchema, {
      node: { case: "id", value: "metropolis-0b121920272e353c434a51585f666d74" },
      kubernetesWorker: false,
      kubernetesController: true,
    }),
  },
  "metropolis.proto.api.ConfigureClusterRequest": {
    schema: ConfigureClusterRequestSchema,
    message: create(ConfigureClusterRequestSchema, {
      baseConfig: clusterConfiguration,
      newConfig: { kubernetes: { nodeLabelsToSynchronize: [{ regexp: ".*" }] } },
      updateMask: create(FieldMaskSchema, { paths: ["kubernetes.node_labels_to_synchronize"] }),
    }),
  },
  "metropolis.proto.api.LogsRequest": {
    schema: LogsRequestSchema,
    message: create(LogsRequestSchema, {
      dn: "root",
      filters: [{ filter: { case: "withChildren", value: {} } }, {
        filter: { case: "onlyRaw", value: {} },
      }],
      backlogMode: LogsRequest_BacklogMode.COUNT,
      backlogCount: 100n,
      streamMode: LogsRequest_StreamMode.UNBUFFERED,
    }),
  },
  "metropolis.proto.api.RebootRequest": {
    schema: RebootRequestSchema,
    message: create(RebootRequestSchema, {
      type: RebootRequest_Type.KEXEC,
      nextBoot: RebootRequest_NextBoot.START_ROLLBACK,
    }),
  },
  "metropolis.proto.api.EscrowResponse": {
    schema: EscrowResponseSchema,
    message: create(EscrowResponseSchema, {
      needed: [{ kind: EscrowResponse_ProofRequest_Kind.PLAINTEXT_PASSWORD }],
      fulfilled: [{ kind: EscrowResponse_ProofRequest_Kind.REFRESH_CERTIFICATE }],
      emittedCertificate: bytes(300, 5),
    }),
  },
  "metropolis.proto.api.CertificateSAN": {
    schema: CertificateSANSchema,
    message: create(CertificateSANSchema, {
      validity: CertificateSAN_Validity.OFFLINE,
      assertions: [
        { kind: { case: "identityConfirmed", value: { name: "owner" } } },
        { kind: { case: "metropolisRpcAllowed", value: {} } },
      ],
    }),
  },
  "metropolis.proto.api.NodeParameters (register)": {
    schema: NodeParametersSchema,
    message: create(NodeParametersSchema, {
      cluster: {
        case: "clusterRegister",
        value: {
          clusterDirectory: {
            nodes: [{ id: "metropolis-aa", addresses: [{ host: "10.8.0.2" }] }],
          },
          registerTicket: bytes(32, 17),
          caCertificate: bytes(50, 23),
          labels,
        },
      },
      networkConfig: { nameserver: [{ ip: "10.8.0.1" }] },
    }),
  },
  "metropolis.proto.api.NodeParameters (bootstrap)": {
    schema: NodeParametersSchema,
    message: create(NodeParametersSchema, {
      cluster: {
        case: "clusterBootstrap",
        value: {
          ownerPublicKey: bytes(32, 99),
          initialClusterConfiguration: clusterConfiguration,
        },
      },
    }),
  },
  "metropolis.proto.api.ImagePart": {
    schema: ImagePartSchema,
    message: create(ImagePartSchema, { dataPart: bytes(1000, 1) }),
  },
  "metropolis.node.core.curator.proto.api.WatchEvent": {
    schema: WatchEventSchema,
    message: create(WatchEventSchema, {
      nodes: [{
        id: "metropolis-aa",
        roles,
        status,
        clusternet: {
          wireguardPubkey: "aGVsbG8=",
          prefixes: [{ cidr: "10.64.0.0/24" }],
        },
        state: NodeState.UP,
        labels,
      }],
      progress: WatchEvent_Progress.LAST_BACKLOGGED,
      nodeTombstones: [{ nodeId: "metropolis-dead" }],
    }),
  },
  "metropolis.node.core.curator.proto.api.GetCurrentLeaderResponse": {
    schema: GetCurrentLeaderResponseSchema,
    message: create(GetCurrentLeaderResponseSchema, {
      leaderNodeId: "n",
      leaderHost: "h",
      leaderPort: 7835,
      thisNodeId: "t",
    }),
  },
  "metropolis.node.core.curator.proto.api.IssueCertificateResponse": {
    schema: IssueCertificateResponseSchema,
    message: create(IssueCertificateResponseSchema, {
      kind: {
        case: "kubernetesWorker",
        value: {
          identityCaCertificate: bytes(10, 1),
          kubeletServerCertificate: bytes(11, 2),
          kubeletClientCertificate: bytes(12, 3),
          csiProvisionerCertificate: bytes(13, 4),
          netservicesCertificate: bytes(14, 5),
        },
      },
    }),
  },
  "metropolis.node.core.curator.proto.api.GetConsensusStatusResponse": {
    schema: GetConsensusStatusResponseSchema,
    message: create(GetConsensusStatusResponseSchema, {
      etcdMember: [
        { id: "metropolis-aa", status: GetConsensusStatusResponse_EtcdMember_Status.FULL },
        { id: "metropolis-bb", status: GetConsensusStatusResponse_EtcdMember_Status.LEARNER },
      ],
    }),
  },
  "metropolis.node.core.curator.proto.private.Node": {
    schema: PrivateNodeSchema,
    message: create(PrivateNodeSchema, {
      publicKey: bytes(32, 11),
      clusterUnlockKey: bytes(32, 12),
      fsmState: NodeState.STANDBY,
      roles,
      status,
      joinKey: bytes(32, 13),
      clusternet: { wireguardPubkey: "aGVsbG8=" },
      tpmUsage: NodeTPMUsage.NODE_TPM_USAGE_NOT_PRESENT,
      labels,
      id: "metropolis-0b121920272e353c434a51585f666d74",
    }),
  },
  "metropolis.node.core.curator.proto.private.InitialOwner": {
    schema: InitialOwnerSchema,
    message: create(InitialOwnerSchema, { publicKey: bytes(32, 1) }),
  },
  "metropolis.node.core.curator.proto.private.RegisterTicket": {
    schema: RegisterTicketSchema,
    message: create(RegisterTicketSchema, { opaque: bytes(32, 2) }),
  },
  "metropolis.node.core.curator.proto.private.LeaderElectionValue": {
    schema: LeaderElectionValueSchema,
    message: create(LeaderElectionValueSchema, { nodeId: "metropolis-aa", ttl: 10n }),
  },
  "metropolis.proto.private.SealedConfigurationFile (tpm)": {
    schema: SealedConfigurationFileSchema,
    message: create(SealedConfigurationFileSchema, {
      kind: {
        case: "tpm",
        value: {
          public: bytes(90, 1),
          private: bytes(120, 2),
          pcrSelection: "sha256:[7]",
          nonce: bytes(12, 3),
          ciphertext: bytes(200, 4),
        },
      },
    }),
  },
  "metropolis.proto.private.SealedConfigurationFile (plain)": {
    schema: SealedConfigurationFileSchema,
    message: create(SealedConfigurationFileSchema, {
      kind: {
        case: "plain",
        value: {
          nodeUnlockKey: bytes(32, 1),
          joinKey: bytes(64, 2),
          clusterCa: bytes(300, 3),
          storageSecurity: NodeStorageSecurity.AUTHENTICATED_ENCRYPTED,
        },
      },
    }),
  },
};
