import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { type DurableOps, mkdirDurable, REAL_OPS, writeFileDurable } from "./durable.ts";

/** The real calls, each recorded in order. */
function recorder(): { ops: DurableOps; calls: string[] } {
  const calls: string[] = [];
  const ops: DurableOps = {
    mkdir: async (p, m) => {
      try {
        await REAL_OPS.mkdir(p, m);
        calls.push(`mkdir ${p}`);
      } catch (e) {
        calls.push(`mkdir ${p} (${(e as Error).name})`);
        throw e;
      }
    },
    writeSynced: async (p, d, m) => {
      await REAL_OPS.writeSynced(p, d, m);
      calls.push(`write+fsync ${p}`);
    },
    rename: async (a, b) => {
      await REAL_OPS.rename(a, b);
      calls.push(`rename ${a} ${b}`);
    },
    syncDir: async (p) => {
      await REAL_OPS.syncDir(p);
      calls.push(`fsync dir ${p}`);
    },
  };
  return { ops, calls };
}

Deno.test("durable write: the rename is followed by an fsync of the file's directory", async () => {
  const root = await Deno.makeTempDir();
  try {
    const { ops, calls } = recorder();
    await writeFileDurable(`${root}/f.pb`, new Uint8Array([1, 2]), {}, ops);
    assertEquals(calls, [
      `mkdir ${root} (AlreadyExists)`,
      `write+fsync ${root}/f.pb.tmp`,
      `rename ${root}/f.pb.tmp ${root}/f.pb`,
      `fsync dir ${root}`,
    ]);
    assertEquals(await Deno.readFile(`${root}/f.pb`), new Uint8Array([1, 2]));
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("durable write: each created directory is followed by an fsync of its parent", async () => {
  const root = await Deno.makeTempDir();
  try {
    const { ops, calls } = recorder();
    await writeFileDurable(`${root}/a/b/f`, new Uint8Array([3]), {}, ops);
    assertEquals(calls, [
      `mkdir ${root}/a/b (NotFound)`,
      `mkdir ${root}/a`,
      `fsync dir ${root}`,
      `mkdir ${root}/a/b`,
      `fsync dir ${root}/a`,
      `write+fsync ${root}/a/b/f.tmp`,
      `rename ${root}/a/b/f.tmp ${root}/a/b/f`,
      `fsync dir ${root}/a/b`,
    ]);
    assertEquals((await Deno.stat(`${root}/a/b`)).mode! & 0o777, 0o700);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("durable write: replaces content, sets the mode even on a leftover temp file, leaves no temp file", async () => {
  const root = await Deno.makeTempDir();
  try {
    const p = `${root}/key`;
    await Deno.writeTextFile(p, "old");
    await Deno.writeTextFile(`${p}.tmp`, "half", { mode: 0o644 });
    await writeFileDurable(p, new TextEncoder().encode("new"), { mode: 0o600 });
    assertEquals(await Deno.readTextFile(p), "new");
    assertEquals((await Deno.stat(p)).mode! & 0o777, 0o600);
    assertEquals([...Deno.readDirSync(root)].map((e) => e.name), ["key"]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("mkdirDurable: an existing directory is left alone", async () => {
  const root = await Deno.makeTempDir();
  try {
    await Deno.chmod(root, 0o755);
    const { ops, calls } = recorder();
    await mkdirDurable(root, 0o700, ops);
    assertEquals(calls, [`mkdir ${root} (AlreadyExists)`]);
    assertEquals((await Deno.stat(root)).mode! & 0o777, 0o755);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
