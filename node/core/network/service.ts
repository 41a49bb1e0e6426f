/**
 * The network service (DN `root.network`, node.md §15): reads NodeParameters.network_config the
 * way enrolment reads the parameters (fw_cfg, then the ESP), keeps a copy of it on the ESP
 * (`metropolis/network_configuration.pb`, §8.1), configures the network ({@link
 * configureNetwork}: static, else DHCP) and publishes the external address through its child
 * `root.network.address`.
 */
import { toBinary } from "@bufbuild/protobuf";
import { type Net, NetSchema } from "../../../proto/gen/osbase/net/proto/net_pb.ts";
import type { Value } from "../../base/event/value.ts";
import { type Context, run, signal } from "../../base/supervisor/supervisor.ts";
import { writeFileDurable } from "../../base/sys/durable.ts";
import { readNodeParameters } from "../localstorage/esp.ts";
import { EPHEMERAL_PATHS, ESP, ESP_FILES } from "../localstorage/paths.ts";
import { addressWatcher } from "./address.ts";
import { configureNetwork } from "./configure.ts";

/** Options of {@link networkService}. */
export interface NetworkServiceOptions {
  /** Where the external address is published. */
  address: Value<string | undefined>;
  /** Reads the static configuration (default: NodeParameters.network_config). */
  readConfig?: () => Promise<Net | undefined>;
  /** ESP root (default `/esp`). */
  esp?: string;
  /** resolv.conf path (default `/ephemeral/resolv.conf`). */
  resolvConf?: string;
}

/** The runnable. Restarted by the supervisor when the kernel refuses the configuration. */
export function networkService(o: NetworkServiceOptions) {
  return async (ctx: Context): Promise<void> => {
    const wake = new EventTarget();
    run(ctx, "address", addressWatcher(o.address, wake));
    const esp = o.esp ?? ESP;
    let config: Net | undefined;
    try {
      config = o.readConfig
        ? await o.readConfig()
        : (await readNodeParameters(esp))?.params.networkConfig;
    } catch (e) {
      // Undecodable parameters are enrolment's error to report; the network still comes up.
      ctx.logger.warning(`node parameters unreadable (${(e as Error).message}), using DHCP`);
    }
    if (config) {
      await writeFileDurable(
        `${esp}/${ESP_FILES.networkConfiguration}`,
        toBinary(NetSchema, config),
      )
        .catch((e) => ctx.logger.warning(`cannot copy network_config to the ESP: ${e.message}`));
    }
    ctx.logger.info(config ? "static network configuration" : "DHCP on every Ethernet link");
    signal(ctx, "healthy");
    await configureNetwork({
      config,
      resolvConf: o.resolvConf ?? EPHEMERAL_PATHS.resolvConf,
      logger: ctx.logger,
      signal: ctx.signal,
      onChange: () => wake.dispatchEvent(new Event("change")),
    });
  };
}

/**
 * Waits until `address` is set, at most `ms`: enrolment puts the address into the etcd peer
 * certificate, so it should not start before DHCP answered (but a node without a network still
 * bootstraps).
 */
export async function waitForAddress(
  address: Value<string | undefined>,
  ms: number,
  signal: AbortSignal,
): Promise<void> {
  if (address.get()) return;
  const timeout = AbortSignal.any([signal, AbortSignal.timeout(ms)]);
  await address.waitFor((a) => !!a, timeout).catch(() => {});
}
