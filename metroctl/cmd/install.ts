/** `install genusb|ssh` (metroctl.md §4.5): not available in this build yet; flags are accepted. */
import type { Command } from "../core/args.ts";
import { CliError } from "../core/errors.ts";

const unavailable = (what: string) => () =>
  Promise.reject(new CliError(`${what} is not available in this build`));

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
      usage: "<target> [flags]",
      args: { min: 1, max: 1 },
      flags: [{ name: "installer", short: "i", kind: "string", help: "installer UKI" }],
      run: unavailable("install genusb"),
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
      run: unavailable("install ssh"),
    },
  ],
};
