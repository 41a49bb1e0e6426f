/**
 * metroctl, the operator CLI (shared/spec/metroctl.md). Entry point: builds the command tree,
 * parses argv, runs the command and maps failures to one stderr line and an exit code
 * (0 ok, 1 failed, 2 usage, 130 interrupted).
 */
import { z } from "zod";
import { type Command, helpText, parseArgs } from "./core/args.ts";
import { Context } from "./core/context.ts";
import { failure } from "./core/errors.ts";
import { FORMATS } from "./core/output.ts";
import { approveCommand } from "./cmd/approve.ts";
import { certCommand } from "./cmd/cert.ts";
import { clusterCommand } from "./cmd/cluster.ts";
import { completionCommand } from "./cmd/completion.ts";
import { installCommand } from "./cmd/install.ts";
import { k8sCommand, k8sCredPluginCommand } from "./cmd/k8s.ts";
import { nodeCommand } from "./cmd/node.ts";
import { versionCommand } from "./cmd/version.ts";

/** The full command tree with the global flags of metroctl.md §2. */
export const ROOT: Command = {
  name: "metroctl",
  summary: "metroctl controls Metropolis nodes and clusters.",
  flags: [
    { name: "cluster", kind: "string", help: "cluster domain (used by install --bootstrap)" },
    { name: "endpoints", kind: "list", help: "cluster hosts or IPs (port 7835 unless given)" },
    { name: "proxy", kind: "string", help: "SOCKS5 proxy host:port for every connection" },
    {
      name: "config",
      kind: "string",
      help: "credential/config directory (default $XDG_CONFIG_HOME/metroctl or ~/.config/metroctl)",
    },
    { name: "verbose", kind: "bool", help: "trace logging to stderr" },
    {
      name: "format",
      kind: "string",
      default: "plaintext",
      help: "output format: plaintext, json, yaml",
      schema: z.enum(FORMATS),
    },
    {
      name: "output",
      short: "o",
      kind: "string",
      help: "json, yaml, plaintext, or a file that receives the data instead of stdout",
    },
    {
      name: "insecure-accept-and-persist-first-encountered-ca",
      kind: "bool",
      help: "accept and pin the first CA seen (tests only)",
    },
  ],
  children: [
    approveCommand,
    certCommand,
    clusterCommand,
    installCommand,
    k8sCommand,
    k8sCredPluginCommand,
    nodeCommand,
    versionCommand,
  ],
};
ROOT.children!.push(completionCommand(() => ROOT));

/** Runs metroctl with `argv`; returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const ac = new AbortController();
  let interrupted = false;
  const onSigint = () => {
    interrupted = true;
    ac.abort();
  };
  Deno.addSignalListener("SIGINT", onSigint);
  try {
    // `deno task metroctl -- <args>` passes the `--` through; it never means anything up front.
    const parsed = parseArgs(ROOT, argv[0] === "--" ? argv.slice(1) : argv);
    if (parsed.help) {
      await Deno.stdout.write(new TextEncoder().encode(helpText(parsed.path)));
      return 0;
    }
    const ctx = new Context(parsed.path, parsed.args, parsed.flags, ac.signal);
    await parsed.path[parsed.path.length - 1].run!(ctx);
    await ctx.finish();
    return 0;
  } catch (e) {
    if (interrupted) {
      console.error("metroctl: interrupted");
      return 130;
    }
    const { line, code } = failure(e);
    console.error(line);
    if (Deno.env.get("METROCTL_DEBUG") && e instanceof Error) console.error(e.stack);
    return code;
  } finally {
    Deno.removeSignalListener("SIGINT", onSigint);
  }
}

if (import.meta.main) {
  // Exit explicitly: grpc-js keeps timers and sockets alive after the command is done.
  Deno.exit(await main(Deno.args));
}
