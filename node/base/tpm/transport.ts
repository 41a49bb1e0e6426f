/**
 * Transports for raw TPM 2.0 commands: a unix socket (swtpm's `--server type=unixio`, which
 * speaks the plain command/response protocol) and a character device (`/dev/tpmrm0`: one write
 * of a command, one read of its response). Neither is safe for concurrent commands; the
 * client serialises them.
 * @module
 */

/** Sends one complete command and returns the complete response. */
export interface Transport {
  /** Where the TPM is, for logs (`unix:/…/sock`, `/dev/tpmrm0`). */
  readonly description: string;
  /** One command in, one response out. */
  transmit(command: Uint8Array): Promise<Uint8Array>;
  /** Releases the socket or device. */
  close(): void;
}

/** Header length of every response: tag (2), size (4), response code (4). */
const HEADER = 10;
/** Upper bound for a response (TPM2 responses are a few KiB at most). */
const MAX_RESPONSE = 1 << 16;

async function writeAll(w: { write(p: Uint8Array): Promise<number> }, b: Uint8Array) {
  while (b.length) b = b.subarray(await w.write(b));
}

function responseSize(head: Uint8Array): number {
  const size = new DataView(head.buffer, head.byteOffset, 6).getUint32(2);
  if (size < HEADER || size > MAX_RESPONSE) throw new Error(`TPM response size ${size} invalid`);
  return size;
}

/** swtpm (or any raw TPM 2.0 command server) on a unix socket. */
class UnixTransport implements Transport {
  #buf = new Uint8Array(0);

  constructor(readonly description: string, readonly conn: Deno.UnixConn) {}

  async #fill(n: number): Promise<void> {
    const chunk = new Uint8Array(4096);
    while (this.#buf.length < n) {
      const got = await this.conn.read(chunk);
      if (got === null) throw new Error(`${this.description}: connection closed by the TPM`);
      const b = new Uint8Array(this.#buf.length + got);
      b.set(this.#buf);
      b.set(chunk.subarray(0, got), this.#buf.length);
      this.#buf = b;
    }
  }

  async transmit(command: Uint8Array): Promise<Uint8Array> {
    await writeAll(this.conn, command);
    await this.#fill(HEADER);
    const size = responseSize(this.#buf);
    await this.#fill(size);
    const out = this.#buf.slice(0, size);
    this.#buf = this.#buf.slice(size);
    return out;
  }

  close(): void {
    try {
      this.conn.close();
    } catch { /* already closed */ }
  }
}

/** Connects to a raw TPM command socket (swtpm `--server type=unixio,path=…`). */
export async function connectUnix(path: string): Promise<Transport> {
  const conn = await Deno.connect({ transport: "unix", path });
  return new UnixTransport(`unix:${path}`, conn);
}

/** What {@link DeviceTransport} needs of an open device (a `Deno.FsFile`, or a test double). */
export interface DeviceFile {
  /** Reads up to `p.length` bytes; null at end of file. */
  read(p: Uint8Array): Promise<number | null>;
  /** Writes some of `p`, returns how many bytes. */
  write(p: Uint8Array): Promise<number>;
  /** Closes the device. */
  close(): void;
}

/**
 * A TPM character device: the kernel returns each response in one read; shorter reads are
 * still put together by the response's size field.
 */
export class DeviceTransport implements Transport {
  /** `file` is the open device, `description` its path. */
  constructor(readonly description: string, readonly file: DeviceFile) {}

  async transmit(command: Uint8Array): Promise<Uint8Array> {
    await writeAll(this.file, command);
    const buf = new Uint8Array(MAX_RESPONSE);
    let len = 0;
    while (len < HEADER || len < responseSize(buf.subarray(0, len))) {
      const got = await this.file.read(buf.subarray(len));
      if (got === null) throw new Error(`${this.description}: end of file`);
      len += got;
    }
    return buf.slice(0, responseSize(buf.subarray(0, len)));
  }

  close(): void {
    try {
      this.file.close();
    } catch { /* already closed */ }
  }
}

/** Opens a TPM character device (`/dev/tpmrm0`, the kernel's resource-managed device). */
export async function openDevice(path: string): Promise<Transport> {
  const file = await Deno.open(path, { read: true, write: true });
  return new DeviceTransport(path, file);
}
