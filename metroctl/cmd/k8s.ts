/**
 * `k8s configure` and the hidden `k8scredplugin` (metroctl.md §4.6, §4.7). Kubernetes is not part
 * of this build yet, so `k8s configure` says so; the credential plugin works from the owner
 * credentials alone.
 */
import { certificatePem } from "../../node/base/pki/info.ts";
import { exportPkcs8Pem } from "../../node/base/pki/keys.ts";
import type { Command } from "../core/args.ts";
import { CliError } from "../core/errors.ts";

/** The `k8s` command group. */
export const k8sCommand: Command = {
  name: "k8s",
  summary: "Kubernetes utilities",
  children: [{
    name: "configure",
    summary: "Write a kubeconfig entry for the cluster",
    flags: [{
      name: "context",
      kind: "string",
      default: "metroctl",
      help: "kubeconfig context name",
    }],
    args: { max: 0 },
    run(ctx) {
      ctx.endpoints();
      throw new CliError("k8s configure: Kubernetes is not available in this build yet");
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
