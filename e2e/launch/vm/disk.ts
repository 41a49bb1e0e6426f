/**
 * VM node disks (testing.md §2.3): one GPT disk image per node, written by the image chain's
 * `mkdisk` (ESP with the signed UKI, system slot A, empty slot B and data partition) once per
 * cluster as `<state>/disk-template.img`, then copied sparsely to `<state>/nodes/<i>/disk.img`
 * (`cp --sparse=always`: only the ESP and the system image occupy space). The node's parameters
 * are not on the disk: they reach it through QEMU's fw_cfg (node.md §6, read before the ESP), so
 * disks can be made before node 0 has handed out a register ticket.
 * @module
 */
import { mkdisk } from "../../../os-image/disk/mkdisk.ts";
import { run } from "../exec.ts";
import type { NodeImage } from "./image.ts";

/**
 * Writes an empty sparse disk of `sizeMiB` at `path` (a new machine's disk, installed from an
 * installer medium: `LaunchOptions.blankDisks`).
 */
export async function blankDisk(path: string, sizeMiB: number): Promise<void> {
  using f = await Deno.open(path, { write: true, create: true, truncate: true });
  await f.truncate(sizeMiB * 2 ** 20);
}

/** Makes node disks from one template; the template is written on first use. */
export class DiskMaker {
  #template?: Promise<string>;

  /** `sizeMiB`: size of each disk; `stateDir`: where the template and its scratch space go. */
  constructor(
    readonly image: () => Promise<NodeImage>,
    readonly sizeMiB: number,
    readonly stateDir: string,
  ) {}

  /** Path of the template disk. */
  get templatePath(): string {
    return `${this.stateDir}/disk-template.img`;
  }

  /** Writes the template (once) and returns its path. */
  template(): Promise<string> {
    this.#template ??= this.#writeTemplate();
    return this.#template;
  }

  /** Writes the node disk `path` (a sparse copy of the template). */
  async make(path: string): Promise<void> {
    await run("cp", ["--sparse=always", await this.template(), path]);
  }

  async #writeTemplate(): Promise<string> {
    const img = await this.image();
    const work = `${this.stateDir}/disk-work`;
    await mkdisk(
      { ukiA: img.ukiA, system: img.system, sizeMiB: this.sizeMiB, seed: this.stateDir },
      this.templatePath,
      work,
    );
    await Deno.remove(work, { recursive: true }).catch(() => {});
    return this.templatePath;
  }
}
