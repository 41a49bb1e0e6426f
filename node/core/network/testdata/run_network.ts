/**
 * Test helper: runs {@link configureNetwork} in the current network namespace (started under
 * `ip netns exec`) until SIGTERM, printing its log lines with milliseconds since start.
 * Args: `<resolv.conf path> [<static Net, base64 binary>]`.
 */
import { fromBinary } from "@bufbuild/protobuf";
import { NetSchema } from "../../../../proto/gen/osbase/net/proto/net_pb.ts";
import { configureNetwork } from "../configure.ts";

const start = performance.now();
const line = (level: string) => (m: string) =>
  console.log(`${Math.round(performance.now() - start)}ms ${level} ${m}`);
const [resolvConf, staticB64] = Deno.args;
const ac = new AbortController();
Deno.addSignalListener("SIGTERM", () => ac.abort());
await configureNetwork({
  config: staticB64
    ? fromBinary(NetSchema, Uint8Array.from(atob(staticB64), (c) => c.charCodeAt(0)))
    : undefined,
  resolvConf,
  logger: { info: line("I"), warning: line("W"), error: line("E") },
  signal: ac.signal,
  onChange: () => line("I")("changed"),
});
console.log("exited");
