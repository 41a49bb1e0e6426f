/**
 * `install genusb` (metroctl.md §4.5, image.md §10): writes an installer medium with the
 * NodeParameters built from the install flags. `install ssh` is not available in this build.
 */
import { join } from "node:path";
import type { Command } from "../core/args.ts";
import type { Context } from "../core/context.ts";
import { CliError, UsageError } from "../core/errors.ts";
import { buildNodeParameters } from "../core/nodeparams.ts";
import { ociPayloads, writeInstallerMedium } from "../core/usb.ts";

/** The installer UKI and OCI layout directory of `--image` (directory or bundle.zip). */
async function imageParts(
  image: string,
  scratch: string,
): Promise<{ installer?: string; oci?: string }> {
  if (!image) return {};
  let st;
  try {
    st = await Deno.stat(image);
  } catch (e) {
    throw new CliError(`--image ${image}: ${(e as Error).message}`);
  }
  if (st.isDirectory) {
    const payloads = await ociPayloads(image).catch((e) => {
      throw new CliError(`--image ${image} is not an OCI layout: ${(e as Error).message}`);
    });
    return { installer: payloads.get("installer.efi"), oci: image };
  }
  const out = await new Deno.Command("unzip", {
    args: ["-q", image, "-d", scratch],
    stderr: "piped",
  })
    .output();
  if (!out.success) throw new CliError(`--image ${image}: not a directory or readable bundle.zip`);
  const exists = (p: string) => Deno.stat(p).then(() => true, () => false);
  return {
    installer: await exists(join(scratch, "installer.efi"))
      ? join(scratch, "installer.efi")
      : undefined,
    oci: await exists(join(scratch, "oci", "index.json")) ? join(scratch, "oci") : undefined,
  };
}

async function genusb(ctx: Context): Promise<void> {
  const target = ctx.args[0];
  const scratch = await Deno.makeTempDir({ prefix: "metroctl-image-" });
  try {
    const parts = await imageParts(ctx.str("image"), scratch);
    const installer = ctx.str("installer") || parts.installer;
    if (!installer) throw new CliError("no installer specified");
    if (!parts.oci) {
      throw new CliError(
        "no OS image specified: pass --image with an OCI layout directory (or a bundle.zip containing oci/)",
      );
    }
    const nodeParams = await buildNodeParameters(ctx);
    ctx.stderr("Generating installer image (this can take a while).");
    await writeInstallerMedium(
      target,
      { installer, nodeParams, osImage: parts.oci },
      (p) => ctx.stderr(`${p}% written`),
    ).catch((e) => {
      throw new CliError(`writing installer image to ${target}: ${(e as Error).message}`);
    });
    ctx.stderr(`Installer image written to ${target}.`);
  } finally {
    await Deno.remove(scratch, { recursive: true });
  }
}

/** The `install` command group. */
export const installCommand: Command = {
  name: "install",
  summary: "Install Metropolis nodes",
  flags: [
    { name: "bootstrap", kind: "bool", help: "build an image that bootstraps a new cluster" },
    {
      name: "bootstrap-tpm-mode",
      kind: "string",
      default: "required",
      help: "required, best-effort, disabled",
    },
    {
      name: "bootstrap-storage-security",
      kind: "string",
      default: "needs-encryption-and-authentication",
      help: "permissive, needs-encryption, needs-encryption-and-authentication, needs-insecure",
    },
    { name: "image", kind: "string", help: "OS image: OCI layout directory or bundle.zip" },
    {
      name: "node-params",
      kind: "string",
      help: "base NodeParameters (text format, .json or .pb)",
    },
  ],
  children: [
    {
      name: "genusb",
      summary: "Generate a USB installer image",
      description:
        "Writes an installer medium (GPT, FAT32 METRO_INST) to a file or block device; a missing path is created as a 514 MiB image file.",
      usage: "<target> [flags]",
      args: { min: 1, max: 1 },
      flags: [{ name: "installer", short: "i", kind: "string", help: "installer UKI" }],
      examples: [
        "metroctl install genusb --bootstrap --cluster example.internal --image oci/ installer.img",
      ],
      run: genusb,
    },
    {
      name: "ssh",
      summary: "Install over SSH on a running Linux machine",
      usage: "<user@host[:port]> [flags]",
      args: { min: 1, max: 1 },
      flags: [
        { name: "disk", kind: "string", help: "target disk" },
        { name: "takeover", kind: "string", help: "takeover program" },
      ],
      run: (ctx) => {
        if (!ctx.str("disk")) throw new UsageError("flag disk is required", ctx.command);
        return Promise.reject(new CliError("install ssh is not available in this build"));
      },
    },
  ],
};
