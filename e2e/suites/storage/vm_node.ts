/**
 * Node VMs of the storage suite: a launcher disk per node with a chosen size, NodeParameters
 * through fw_cfg (so nothing the test looks for is on the plaintext ESP), a TAP on the suite's
 * switch with a DHCP reservation, swtpm state that survives reboots, and a clean power-off
 * through the node management API.
 * @module
 */
import { create, toBinary } from "@bufbuild/protobuf";
import type * as grpc from "@grpc/grpc-js";
import { mkdisk } from "../../../os-image/disk/mkdisk.ts";
import { nodePartitions } from "../../../os-image/disk/layout.ts";
import type { Image } from "../../../os-image/image.ts";
import {
  type NodeParameters,
  NodeParameters_ClusterBootstrapSchema,
  NodeParametersSchema,
} from "../../../proto/gen/metropolis/proto/api/configuration_pb.ts";
import {
  ClusterConfiguration_StorageSecurityPolicy as Policy,
  ClusterConfiguration_TPMMode as TPMMode,
  ClusterConfigurationSchema,
  NodeLabelsSchema,
} from "../../../proto/gen/metropolis/proto/common/common_pb.ts";
import {
  NodeManagement,
  RebootRequest_Type,
} from "../../../proto/gen/metropolis/proto/api/management_pb.ts";
import { makeClient } from "../../../proto/grpc.ts";
import { connectionParams } from "../../../node/core/rpc/client.ts";
import { detectAccel } from "../../launch/vm/accel.ts";
import { startVm, type Vm } from "../../launch/vm/qemu.ts";
import { nodeMac } from "../../launch/net.ts";
import { insecureOwnerPublicKey } from "../../launch/insecure_key.ts";
import type { OwnerAccess } from "../../launch/bringup.ts";

const MiB = 1024 * 1024;

/** Disk size whose data partition is `dataMiB` (the fixed partitions, 1 MiB GPT each end). */
export function diskMiBForData(dataMiB: number): number {
  return nodePartitions("launcher").reduce((s, p) => s + p.sizeMiB, 0) + dataMiB + 2;
}

/** Writes a launcher disk for node `name` with a `dataMiB` data partition. */
export async function nodeDisk(img: Image, name: string, dataMiB: number): Promise<string> {
  const out = `${img.outDir}/${name}.img`;
  await mkdisk(
    { ukiA: img.ukis.a, system: img.system.img, seed: name, sizeMiB: diskMiBForData(dataMiB) },
    out,
    `${img.outDir}/work/${name}`,
  );
  return out;
}

/** Bootstrap parameters: the insecure test owner, TPM required, `policy`, label `key=value`. */
export async function bootstrapParams(
  policy: Policy,
  label: { key: string; value: string },
): Promise<NodeParameters> {
  return create(NodeParametersSchema, {
    cluster: {
      case: "clusterBootstrap",
      value: create(NodeParameters_ClusterBootstrapSchema, {
        ownerPublicKey: await insecureOwnerPublicKey(),
        initialClusterConfiguration: create(ClusterConfigurationSchema, {
          clusterDomain: "cluster.internal",
          tpmMode: TPMMode.TPM_MODE_REQUIRED,
          storageSecurityPolicy: policy,
        }),
        labels: create(NodeLabelsSchema, { pairs: [label] }),
      }),
    },
  });
}

/** One node VM of the suite: its state directory and disk persist across boots. */
export class NodeVm {
  vm?: Vm;
  constructor(
    readonly img: Image,
    readonly name: string,
    readonly index: number,
    readonly tap: string,
    readonly disk: string,
  ) {}

  get stateDir(): string {
    return `${this.img.outDir}/vm-${this.name}`;
  }

  /** Boots with `params` through fw_cfg (none: a later boot) and OVMF `vars`. */
  async boot(params?: NodeParameters, vars = this.img.ovmfVars!): Promise<Vm> {
    await Deno.mkdir(this.stateDir, { recursive: true });
    let parameters: string | undefined;
    if (params) {
      parameters = `${this.stateDir}/parameters.pb`;
      await Deno.writeFile(parameters, toBinary(NodeParametersSchema, params));
    }
    this.vm = await startVm({
      stateDir: this.stateDir,
      disk: this.disk,
      vars,
      parameters,
      ramMiB: 1536,
      accel: await detectAccel(),
      extraArgs: [
        "-netdev",
        `tap,id=n0,ifname=${this.tap},script=no,downscript=no`,
        "-device",
        `virtio-net-pci,netdev=n0,mac=${nodeMac(this.index)}`,
      ],
    });
    return this.vm;
  }

  /** Console of the current boot. */
  console(): string {
    return this.vm?.console() ?? "";
  }

  /**
   * Powers the node off through NodeManagement.Reboot(TYPE_POWER_OFF) (the agent syncs and
   * calls reboot(2); QEMU exits) and waits for QEMU to exit.
   */
  async powerOff(address: string, nodeId: string, owner: OwnerAccess, timeoutMs: number) {
    const p = await connectionParams(`${address}:7839`, {
      ca: owner.caCertificate,
      nodeId,
      identity: { certificate: owner.certificate, privateKey: owner.keys.privateKey },
    });
    const m = makeClient(NodeManagement, p.address, p.credentials, p.options as grpc.ClientOptions);
    try {
      await m.reboot({ type: RebootRequest_Type.POWER_OFF }, { deadline: Date.now() + 30_000 });
    } finally {
      m.close();
      p.close?.();
    }
    const deadline = Date.now() + timeoutMs;
    while (this.vm?.running()) {
      if (Date.now() > deadline) throw new Error(`${this.name} did not power off`);
      await new Promise((r) => setTimeout(r, 250));
    }
    await this.stop();
  }

  /** Stops QEMU (if still running) and swtpm. */
  async stop(): Promise<void> {
    await this.vm?.stop();
  }
}

/** Size in bytes of a 4 GiB data partition as the suite writes it. */
export const DATA_MIB = 4096;
export const DATA_BYTES = DATA_MIB * MiB;
