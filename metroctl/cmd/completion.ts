/**
 * `completion bash|zsh|fish` (metroctl.md §4.9): scripts generated from the command tree, so
 * every command, flag and role name is completed.
 */
import type { Command } from "../core/args.ts";
import { UsageError } from "../core/errors.ts";
import { ROLES } from "../../node/core/constants/roles.ts";

const ROLE_WORDS = [...ROLES.map((r) => r.name), ...ROLES.map((r) => r.short)].join(" ");

interface Entry {
  path: string;
  words: string[];
}

function entries(root: Command): Entry[] {
  const out: Entry[] = [];
  const walk = (c: Command, path: string[], inherited: string[]) => {
    const flags = [...inherited, ...(c.flags ?? []).flatMap((f) => [`--${f.name}`])];
    const kids = (c.children ?? []).filter((k) => !k.hidden).map((k) => k.name);
    let words = [...kids, ...flags, "--help"];
    if (c.name === "role") words = [...ROLE_WORDS.split(" "), ...words];
    out.push({ path: path.join(" "), words });
    for (const k of c.children ?? []) walk(k, [...path, k.name], flags);
  };
  walk(root, [], []);
  return out;
}

function bash(root: Command): string {
  const cases = entries(root).map((e) => `    "${e.path}") words="${e.words.join(" ")}" ;;`).join(
    "\n",
  );
  return `# metroctl bash completion: source <(metroctl completion bash)
_metroctl() {
  local cur path="" w i
  cur="\${COMP_WORDS[COMP_CWORD]}"
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    [[ "$w" == -* ]] && continue
    case "\${path:+$path }$w" in
${
    entries(root).filter((e) => e.path).map((e) => `      "${e.path}") path="${e.path}" ;;`).join(
      "\n",
    )
  }
    esac
  done
  local words=""
  case "$path" in
${cases}
  esac
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -F _metroctl metroctl
`;
}

function fish(root: Command): string {
  return entries(root).map((e) => {
    const cond = e.path
      ? `__fish_seen_subcommand_from ${e.path.split(" ").pop()}`
      : "__fish_use_subcommand";
    return `complete -c metroctl -f -n '${cond}' -a '${
      e.words.filter((w) => !w.startsWith("-")).join(" ")
    }'` +
      e.words.filter((w) => w.startsWith("--")).map((w) =>
        `\ncomplete -c metroctl -n '${cond}' -l ${w.slice(2)}`
      ).join("");
  }).join("\n") + "\n";
}

/** The `completion` command; `root` is resolved lazily (the tree contains this command). */
export function completionCommand(root: () => Command): Command {
  return {
    name: "completion",
    summary: "Print a shell completion script (bash, zsh, fish)",
    usage: "<bash|zsh|fish>",
    args: { min: 1, max: 1 },
    examples: ["source <(metroctl completion bash)"],
    async run(ctx) {
      const shell = ctx.args[0];
      let script: string;
      if (shell === "bash") script = bash(root());
      else if (shell === "zsh") {
        script = `#compdef metroctl\nautoload -U +X bashcompinit && bashcompinit\n${bash(root())}`;
      } else if (shell === "fish") script = fish(root());
      else {throw new UsageError(
          `unsupported shell "${shell}": want bash, zsh or fish`,
          ctx.command,
        );}
      await ctx.write(script);
    },
  };
}
