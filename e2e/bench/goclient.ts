/**
 * The bench's Go HTTP/2 client (kubepeer/main.go) as a client of our own server: the same
 * net/http transport that reads the kube-apiserver's LISTs also reads our gRPC streams
 * (`kubeclient grpc-stream`), so that a comparison is not one between two clients. Credentials
 * are the bench server's owner certificate and key and its cluster CA, written as PEM files for
 * Go's crypto/tls (Ed25519 keys are supported); the server certificate is verified against the
 * cluster CA under the node ID, its only DNS SAN.
 */
import { z } from "zod";
import { Buffer } from "node:buffer";
import { certificatePem } from "../../node/base/pki/info.ts";
import { pemEncode } from "../../node/base/pki/pem.ts";
import { toHex } from "../../node/base/pki/keys.ts";
import { commandOutput } from "../../node/base/sys/command.ts";
import { buildKubeClient } from "./kubepeer/build.ts";
import type { ServerInfo } from "./curator_server.ts";

/** Runs `kubeclient <command> <args>`; its last stdout line, parsed as JSON. */
export async function runKubeClient(
  bin: string,
  command: string,
  args: string[],
  stdin?: string,
): Promise<unknown> {
  const out = await commandOutput(bin, [command, ...args], { stdin, stderr: "inherit" });
  if (!out.success) throw new Error(`kubeclient ${command} failed (exit ${out.code})`);
  const lines = new TextDecoder().decode(out.stdout).trim().split("\n");
  return JSON.parse(lines[lines.length - 1]);
}

/** What `kubeclient grpc-stream` prints. */
const GrpcStreamResult = z.strictObject({
  /** Latency of each call to the end of its stream, in milliseconds. */
  ms: z.array(z.number().nonnegative()),
  /** Response body of the last call, message prefixes included. */
  bytes: z.number().int().nonnegative(),
  /** gRPC messages in the last call's response. */
  messages: z.number().int().nonnegative(),
});
export type GrpcStreamResult = z.infer<typeof GrpcStreamResult>;

/** The Go client bound to one bench server. */
export interface GoGrpcClient {
  /**
   * `calls` sequential calls of the server-streaming `method` (`/pkg.Service/Method`) with the
   * encoded request message `request`, over one HTTP/2 connection, bodies read whole and not
   * decoded.
   */
  stream(method: string, request: Uint8Array, calls: number): Promise<GrpcStreamResult>;
  /** Removes the credential files. */
  close(): Promise<void>;
}

const der = (b64: string) => new Uint8Array(Buffer.from(b64, "base64"));

/**
 * Writes the cluster CA of `info` into `dir` for the Go client; the flags naming the server:
 * its URL, the node ID its certificate must carry and the CA file.
 */
export async function goServerFlags(info: ServerInfo, dir: string): Promise<string[]> {
  await Deno.writeTextFile(`${dir}/ca.crt`, certificatePem(der(info.ca)));
  return ["-server", `https://${info.target}`, "-server-name", info.nodeId, "-ca", `${dir}/ca.crt`];
}

/** Builds (or reuses) the Go client and writes the owner's credentials for it. */
export async function goGrpcClient(info: ServerInfo): Promise<GoGrpcClient> {
  const bin = await buildKubeClient();
  const dir = await Deno.makeTempDir({ prefix: "metropolis-goclient-" });
  await Deno.writeTextFile(`${dir}/owner.crt`, certificatePem(der(info.ownerCert)));
  await Deno.writeTextFile(`${dir}/owner.key`, pemEncode("PRIVATE KEY", der(info.ownerKey)), {
    mode: 0o600,
  });
  const common = [
    ...await goServerFlags(info, dir),
    "-cert",
    `${dir}/owner.crt`,
    "-key",
    `${dir}/owner.key`,
  ];
  return {
    async stream(method, request, calls) {
      const out = await runKubeClient(bin, "grpc-stream", [
        ...common,
        "-path",
        method,
        "-body-hex",
        toHex(request),
        "-n",
        String(calls),
      ]);
      return GrpcStreamResult.parse(out);
    },
    close: () => Deno.remove(dir, { recursive: true }),
  };
}
