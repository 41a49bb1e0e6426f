// Run by pageout_test.ts on a private copy of deno: pages out and prints what it did as JSON.
import { pageOutRuntime } from "../pageout.ts";

console.log(JSON.stringify(pageOutRuntime()));
