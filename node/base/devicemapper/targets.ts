/**
 * Table-line builders for the `crypt`, `integrity` and `verity` targets (the kernel's
 * Documentation/admin-guide/device-mapper/{dm-crypt,dm-integrity,verity}.rst). Optional
 * arguments are emitted in the order the kernel's status function prints them back, so a line
 * built here is byte for byte what `dmsetup table --showkeys` shows for the device (given the
 * device as `major:minor`, as the kernel reports it). That makes "what we loaded" and "what is
 * live" comparable as strings.
 * @module
 */
import type { DmTarget } from "./codec.ts";

const SECTOR = 512;

/** `start length type params`: one line of `dmsetup table`. */
export function tableLine(t: DmTarget): string {
  return `${t.start} ${t.length} ${t.type} ${t.params}`;
}

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

function checkToken(s: string, what: string): void {
  // Parameters are split on whitespace by the kernel: a space would shift every later argument.
  if (s === "" || /\s/.test(s)) {
    throw new TypeError(`${what} ${JSON.stringify(s)} must be one word`);
  }
}

function checkCount(n: number, what: string): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`${what} ${n} is not a count`);
}

/** A key held in the kernel keyring instead of in the table (`:<size>:<type>:<description>`). */
export interface KeyringKey {
  size: number;
  type: "logon" | "user" | "encrypted" | "trusted";
  description: string;
}

/** Parameters of a `crypt` target (dm-crypt.rst). */
export interface CryptParams {
  /** Length in 512-byte sectors. */
  length: number;
  start?: number;
  /** Cipher spec, e.g. `"aes-xts-plain64"` or `"capi:authenc(hmac(sha256),xts(aes))-random"`. */
  cipher?: string;
  /** The key bytes (written as hex) or a keyring reference. */
  key: Uint8Array | KeyringKey;
  /** Sector number added to the IV's sector (0 unless the volume was moved). */
  ivOffset?: number;
  /** Underlying device: a path or `major:minor`. */
  device: string;
  /** Start of the encrypted data on `device`, in 512-byte sectors. */
  offset?: number;
  allowDiscards?: boolean;
  sameCpuCrypt?: boolean;
  highPriority?: boolean;
  submitFromCryptCpus?: boolean;
  noReadWorkqueue?: boolean;
  noWriteWorkqueue?: boolean;
  /** Authenticated encryption over dm-integrity: tag bytes per sector and `aead` or a MAC. */
  integrity?: { tagBytes: number; type: string };
  /** Encryption sector size in bytes (512 default; 4096 is faster on 4K devices). */
  sectorSize?: number;
  /** IVs count in `sectorSize` units instead of 512-byte sectors. */
  ivLargeSectors?: boolean;
}

/**
 * A `crypt` target:
 * `<cipher> <key> <iv_offset> <device> <offset> [<#opt_params> <opt_params>]`.
 */
export function cryptTarget(p: CryptParams): DmTarget {
  const cipher = p.cipher ?? "aes-xts-plain64";
  checkToken(cipher, "cipher");
  checkToken(p.device, "device");
  let key: string;
  if (p.key instanceof Uint8Array) {
    if (p.key.length === 0) throw new RangeError("crypt key is empty");
    key = hex(p.key);
  } else {
    checkToken(p.key.description, "key description");
    checkCount(p.key.size, "key size");
    key = `:${p.key.size}:${p.key.type}:${p.key.description}`;
  }
  const ivOffset = p.ivOffset ?? 0;
  const offset = p.offset ?? 0;
  checkCount(ivOffset, "iv_offset");
  checkCount(offset, "offset");
  const opts: string[] = [];
  if (p.allowDiscards) opts.push("allow_discards");
  if (p.sameCpuCrypt) opts.push("same_cpu_crypt");
  if (p.highPriority) opts.push("high_priority");
  if (p.submitFromCryptCpus) opts.push("submit_from_crypt_cpus");
  if (p.noReadWorkqueue) opts.push("no_read_workqueue");
  if (p.noWriteWorkqueue) opts.push("no_write_workqueue");
  if (p.integrity) {
    checkCount(p.integrity.tagBytes, "integrity tag size");
    checkToken(p.integrity.type, "integrity type");
    opts.push(`integrity:${p.integrity.tagBytes}:${p.integrity.type}`);
  }
  if (p.sectorSize !== undefined && p.sectorSize !== SECTOR) {
    if (![1024, 2048, 4096].includes(p.sectorSize)) {
      throw new RangeError(`crypt sector size ${p.sectorSize} (want 512, 1024, 2048 or 4096)`);
    }
    opts.push(`sector_size:${p.sectorSize}`);
  }
  if (p.ivLargeSectors) opts.push("iv_large_sectors");
  const base = `${cipher} ${key} ${ivOffset} ${p.device} ${offset}`;
  return target(
    "crypt",
    p.start,
    p.length,
    opts.length ? `${base} ${opts.length} ${opts.join(" ")}` : base,
  );
}

/** Parameters of an `integrity` target (dm-integrity.rst). */
export interface IntegrityParams {
  /** Length in 512-byte sectors of the provided (data) area. */
  length: number;
  start?: number;
  /** Underlying device: a path or `major:minor`. */
  device: string;
  /** Reserved sectors at the start of `device` (before the superblock). */
  offset?: number;
  /** Tag bytes per sector (with `internalHash`, the hash's size; under crypt, the AEAD tag). */
  tagBytes: number;
  /** J journal, D direct (no crash consistency), B bitmap, R recovery, I inline. */
  mode: "J" | "D" | "B" | "R" | "I";
  metaDevice?: string;
  blockSize?: number;
  recalculate?: boolean;
  resetRecalculate?: boolean;
  allowDiscards?: boolean;
  journalSectors?: number;
  interleaveSectors?: number;
  bufferSectors?: number;
  journalWatermark?: number;
  commitTime?: number;
  sectorsPerBit?: number;
  bitmapFlushInterval?: number;
  fixPadding?: boolean;
  fixHmac?: boolean;
  legacyRecalculate?: boolean;
  /** e.g. `"crc32c"`, `"sha256"` or `"hmac(sha256):<hex key>"`. */
  internalHash?: string;
  journalCrypt?: string;
  journalMac?: string;
}

/**
 * An `integrity` target:
 * `<dev> <offset> <tag size> <mode> <#opt_params> <opt_params>`. The kernel fills in defaults
 * for the journal/interleave/buffer/watermark/commit options it prints; pass them explicitly to
 * get a line equal to `dmsetup table`.
 */
export function integrityTarget(p: IntegrityParams): DmTarget {
  checkToken(p.device, "device");
  const offset = p.offset ?? 0;
  checkCount(offset, "offset");
  checkCount(p.tagBytes, "tag size");
  const opts: string[] = [];
  const num = (name: string, v: number | undefined) => {
    if (v === undefined) return;
    checkCount(v, name);
    opts.push(`${name}:${v}`);
  };
  const word = (name: string, v: string | undefined) => {
    if (v === undefined) return;
    checkToken(v, name);
    opts.push(`${name}:${v}`);
  };
  word("meta_device", p.metaDevice);
  num("block_size", p.blockSize);
  if (p.recalculate) opts.push("recalculate");
  if (p.resetRecalculate) opts.push("reset_recalculate");
  if (p.allowDiscards) opts.push("allow_discards");
  num("journal_sectors", p.journalSectors);
  num("interleave_sectors", p.interleaveSectors);
  num("buffer_sectors", p.bufferSectors);
  num("journal_watermark", p.journalWatermark);
  num("commit_time", p.commitTime);
  num("sectors_per_bit", p.sectorsPerBit);
  num("bitmap_flush_interval", p.bitmapFlushInterval);
  if (p.fixPadding) opts.push("fix_padding");
  if (p.fixHmac) opts.push("fix_hmac");
  if (p.legacyRecalculate) opts.push("legacy_recalculate");
  word("internal_hash", p.internalHash);
  word("journal_crypt", p.journalCrypt);
  word("journal_mac", p.journalMac);
  const params = [p.device, offset, p.tagBytes, p.mode, opts.length, ...opts].join(" ");
  return target("integrity", p.start, p.length, params);
}

/** Parameters of a `verity` target (verity.rst). */
export interface VerityParams {
  /** Defaults to the data area: `dataBlocks · dataBlockSize / 512`. */
  length?: number;
  start?: number;
  /** Hash format version: 1 (salt prepended; what veritysetup writes) or 0 (Chrome OS). */
  version?: 0 | 1;
  dataDevice: string;
  hashDevice: string;
  dataBlockSize?: number;
  hashBlockSize?: number;
  dataBlocks: number;
  /** Offset of the hash tree's root block on `hashDevice`, in `hashBlockSize` units. */
  hashStartBlock: number;
  algorithm?: string;
  rootHash: string | Uint8Array;
  /** Empty or absent: no salt (`-`). */
  salt?: string | Uint8Array;
  onCorruption?: "ignore_corruption" | "restart_on_corruption" | "panic_on_corruption";
  ignoreZeroBlocks?: boolean;
  checkAtMostOnce?: boolean;
  /** Keyring description of a signature over the root hash. */
  rootHashSigKeyDesc?: string;
}

const asHex = (v: string | Uint8Array, what: string): string => {
  const s = typeof v === "string" ? v.toLowerCase() : hex(v);
  if (!/^([0-9a-f]{2})*$/.test(s)) throw new TypeError(`${what} is not an even-length hex string`);
  return s;
};

/**
 * A `verity` target: `<version> <data_dev> <hash_dev> <data_block_size> <hash_block_size>
 * <num_data_blocks> <hash_start_block> <algorithm> <digest> <salt> [<#opt_params> <opt_params>]`.
 */
export function verityTarget(p: VerityParams): DmTarget {
  checkToken(p.dataDevice, "data device");
  checkToken(p.hashDevice, "hash device");
  const dbs = p.dataBlockSize ?? 4096;
  const hbs = p.hashBlockSize ?? 4096;
  for (const [n, v] of [["data block size", dbs], ["hash block size", hbs]] as const) {
    if (v < SECTOR || (v & (v - 1)) !== 0) {
      throw new RangeError(`${n} ${v} is not a power of two ≥ 512`);
    }
  }
  checkCount(p.dataBlocks, "data blocks");
  checkCount(p.hashStartBlock, "hash start block");
  const algorithm = p.algorithm ?? "sha256";
  checkToken(algorithm, "algorithm");
  const root = asHex(p.rootHash, "root hash");
  if (root === "") throw new TypeError("root hash is empty");
  const salt = p.salt === undefined ? "" : asHex(p.salt, "salt");
  const opts: string[] = [];
  if (p.onCorruption) opts.push(p.onCorruption);
  if (p.ignoreZeroBlocks) opts.push("ignore_zero_blocks");
  if (p.checkAtMostOnce) opts.push("check_at_most_once");
  if (p.rootHashSigKeyDesc !== undefined) {
    checkToken(p.rootHashSigKeyDesc, "signature key description");
    opts.push("root_hash_sig_key_desc", p.rootHashSigKeyDesc);
  }
  const fields = [
    p.version ?? 1,
    p.dataDevice,
    p.hashDevice,
    dbs,
    hbs,
    p.dataBlocks,
    p.hashStartBlock,
    algorithm,
    root,
    salt === "" ? "-" : salt,
  ];
  if (opts.length) fields.push(opts.length, ...opts);
  const length = p.length ?? (p.dataBlocks * dbs) / SECTOR;
  return target("verity", p.start, length, fields.join(" "));
}

function target(type: string, start = 0, length: number, params: string): DmTarget {
  checkCount(start, "start");
  checkCount(length, "length");
  if (length === 0) throw new RangeError(`${type} target has length 0`);
  return { start, length, type, params };
}
