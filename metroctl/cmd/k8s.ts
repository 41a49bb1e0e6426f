/**
 * `k8s configure` and the hidden `k8scredplugin` (metroctl.md §4.6, §4.7, §8): the kubeconfig
 * entry for the cluster, and the kubectl exec credential plugin serving the owner credentials.
 */
import { resolve } from "node:path";
import { certificatePem } from "../../node/base/pki/info.ts";
import { exportPkcs8Pem } from "../../node/base/pki/keys.ts";
import type { Command } from "../core/args.ts";
import type { Context } from "../core/context.ts";
import { clusterCA } from "../core/dial.ts";
import { CliError } from "../core/errors.ts";
import { endpointHost, pinKubernetesServer, writeKubeconfig } from "../core/kubeconfig.ts";

/** Pins the API server of the first endpoint and writes the kubeconfig entry `--context`. */
export async function setUpKubeconfig(ctx: Context, ca: Uint8Array): Promise<void> {
  const endpoints = ctx.endpoints();
  const host = endpointHost(endpoints[0]);
  const context = ctx.str("context") || "metroctl";
  const nodeId = await pinKubernetesServer(host, ca, ctx.proxy);
  ctx.stderr(`Pinning Kubernetes server certificate to "${nodeId}"`);
  const path = await writeKubeconfig({
    context,
    host,
    ca,
    nodeId,
    proxy: ctx.proxy,
    configDir: resolve(ctx.config.dir),
    endpoints,
  });
  ctx.verbose(`kubeconfig written to ${path}`);
  ctx.stderr(
    `Success! kubeconfig is set up. You can now run kubectl --context=${context} ... to access the Kubernetes cluster.`,
  );
}

/** The `k8s` command group. */
export const k8sCommand: Command = {
  name: "k8s",
  summary: "Kubernetes utilities",
  children: [{
    name: "configure",
    summary: "Write a kubeconfig entry for the cluster",
    description:
      "Writes cluster, user and context entries named --context into $KUBECONFIG (first path) or ~/.kube/config, pinning the API server certificate of the first endpoint (port 6444).",
    flags: [{
      name: "context",
      kind: "string",
      default: "metroctl",
      help: "kubeconfig context name",
    }],
    args: { max: 0 },
    async run(ctx) {
      ctx.endpoints();
      const ca = await clusterCA(ctx);
      try {
        await setUpKubeconfig(ctx, ca);
      } catch (e) {
        if (e instanceof CliError) throw e;
        throw new CliError(`k8s configure: ${(e as Error).message}`);
      }
    },
  }],
};

/** The hidden `k8scredplugin` command (kubectl exec credential plugin). */
export const k8sCredPluginCommand: Command = {
  name: "k8scredplugin",
  summary: "Kubernetes client credential plugin",
  hidden: true,
  args: { max: 0 },
  async run(ctx) {
    const key = await ctx.config.ownerKey();
    const cert = await ctx.config.ownerCertificate();
    if (!key || !cert) throw new CliError("no credentials found on your machine");
    const doc = {
      kind: "ExecCredential",
      apiVersion: "client.authentication.k8s.io/v1",
      spec: { interactive: false },
      status: {
        clientCertificateData: certificatePem(cert),
        clientKeyData: await exportPkcs8Pem(key.privateKey),
      },
    };
    await ctx.write(JSON.stringify(doc) + "\n");
  },
};
