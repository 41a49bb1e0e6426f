/**
 * `bazel run //:launch-cluster`: the launcher CLI (main.ts) with VM nodes by default, like
 * upstream's target; `--mode namespace` still launches namespace nodes.
 * @module
 */
import { main } from "./main.ts";

if (import.meta.main) Deno.exit(await main(Deno.args, { mode: "vm" }));
