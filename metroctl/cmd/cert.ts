/** `cert export` (metroctl.md §4.2): owner credentials as owner.crt/owner.key in the cwd. */
import { certificatePem } from "../../node/base/pki/info.ts";
import { exportPkcs8Pem } from "../../node/base/pki/keys.ts";
import type { Command } from "../core/args.ts";
import { CliError } from "../core/errors.ts";

/** The `cert` command group. */
export const certCommand: Command = {
  name: "cert",
  summary: "Certificate utilities",
  children: [{
    name: "export",
    summary: "Export the owner certificate and key (owner.crt, owner.key)",
    args: { max: 0 },
    async run(ctx) {
      const key = await ctx.config.ownerKey();
      const cert = await ctx.config.ownerCertificate();
      if (!key || !cert) throw new CliError("you have to take ownership of the cluster first");
      await Deno.writeTextFile("owner.crt", certificatePem(cert), { mode: 0o644 });
      await Deno.chmod("owner.crt", 0o644);
      await Deno.writeTextFile("owner.key", await exportPkcs8Pem(key.privateKey), { mode: 0o600 });
      await Deno.chmod("owner.key", 0o600);
      ctx.stderr("Wrote owner.crt and owner.key");
    },
  }],
};
