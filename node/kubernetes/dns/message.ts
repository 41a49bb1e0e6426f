/**
 * DNS wire format (RFC 1035, RFC 2782 SRV, RFC 6891 OPT), pure: {@link decodeMessage} and
 * {@link encodeMessage}. Queries come from any pod and are hostile input: every read is bounds
 * checked, names are limited to 255 bytes, and compression pointers must point strictly backwards,
 * so a pointer loop cannot exist and decoding a name takes at most as many steps as the message
 * has bytes.
 * @module
 */

/** Record types this server knows by name (others are carried as raw data). */
export const TYPE = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  PTR: 12,
  TXT: 16,
  AAAA: 28,
  SRV: 33,
  OPT: 41,
  ANY: 255,
} as const;

/** The Internet class. */
export const CLASS_IN = 1;

/** Response codes. */
export const RCODE = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
} as const;

/** Largest DNS message (the TCP length prefix is 16 bits). */
export const MAX_MESSAGE = 65535;

/** Malformed input: the caller answers FORMERR (or drops the packet). */
export class DnsFormatError extends Error {}

/** Header fields (the four section counts are implied by the section arrays). */
export interface Header {
  id: number;
  /** Response (true) or query. */
  qr: boolean;
  opcode: number;
  aa: boolean;
  tc: boolean;
  rd: boolean;
  ra: boolean;
  rcode: number;
}

/** One question. Names are dotted text without the trailing dot ("" = root). */
export interface Question {
  name: string;
  type: number;
  class: number;
}

/** Record data, decoded for the types this server produces; everything else stays raw. */
export type RData =
  | { kind: "a"; address: string }
  /** CNAME, PTR, NS. */
  | { kind: "name"; name: string }
  | { kind: "srv"; priority: number; weight: number; port: number; target: string }
  | {
    kind: "soa";
    mname: string;
    rname: string;
    serial: number;
    refresh: number;
    retry: number;
    expire: number;
    minimum: number;
  }
  | { kind: "raw"; bytes: Uint8Array };

/** One resource record. For OPT, `class` is the UDP payload size and `ttl` the extended flags. */
export interface ResourceRecord {
  name: string;
  type: number;
  class: number;
  ttl: number;
  data: RData;
}

/** A whole message. */
export interface Message extends Header {
  questions: Question[];
  answers: ResourceRecord[];
  authority: ResourceRecord[];
  additional: ResourceRecord[];
}

const MAX_NAME = 255;
const MAX_LABEL = 63;

/** A cursor over a message with bounds-checked reads. */
class Reader {
  pos = 0;
  readonly #dv: DataView;
  constructor(readonly b: Uint8Array) {
    this.#dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  }
  need(n: number): void {
    if (this.pos + n > this.b.length) throw new DnsFormatError("message truncated");
  }
  u8(): number {
    this.need(1);
    return this.b[this.pos++];
  }
  u16(): number {
    this.need(2);
    const v = this.#dv.getUint16(this.pos);
    this.pos += 2;
    return v;
  }
  u32(): number {
    this.need(4);
    const v = this.#dv.getUint32(this.pos);
    this.pos += 4;
    return v;
  }
  bytes(n: number): Uint8Array {
    this.need(n);
    const v = this.b.slice(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }
}

/** Text of one label: printable ASCII except `.` and `\` as is, anything else as `\DDD`. */
function labelText(b: Uint8Array): string {
  let s = "";
  for (const c of b) {
    if (c > 0x20 && c < 0x7f && c !== 0x2e && c !== 0x5c) s += String.fromCharCode(c);
    else s += "\\" + String(c).padStart(3, "0");
  }
  return s;
}

/**
 * Reads a (possibly compressed) name at `r.pos` and advances past it. A pointer must point
 * before the label that contains it, which makes loops impossible.
 */
function readName(r: Reader): string {
  const labels: string[] = [];
  let wire = 1; // the final root byte
  let pos = r.pos;
  let end = -1; // where the caller's cursor continues (after the first pointer)
  for (;;) {
    if (pos >= r.b.length) throw new DnsFormatError("name runs past the message");
    const len = r.b[pos];
    if ((len & 0xc0) === 0xc0) {
      if (pos + 1 >= r.b.length) throw new DnsFormatError("name runs past the message");
      const target = ((len & 0x3f) << 8) | r.b[pos + 1];
      if (target >= pos) throw new DnsFormatError("compression pointer does not point backwards");
      if (end < 0) end = pos + 2;
      pos = target;
      continue;
    }
    if (len & 0xc0) throw new DnsFormatError("unsupported label type");
    if (len === 0) {
      r.pos = end < 0 ? pos + 1 : end;
      return labels.join(".");
    }
    wire += len + 1;
    if (wire > MAX_NAME) throw new DnsFormatError("name longer than 255 bytes");
    if (pos + 1 + len > r.b.length) throw new DnsFormatError("name runs past the message");
    labels.push(labelText(r.b.subarray(pos + 1, pos + 1 + len)));
    pos += 1 + len;
  }
}

function readRData(r: Reader, type: number, len: number): RData {
  const end = r.pos + len;
  r.need(len);
  let d: RData;
  switch (type) {
    case TYPE.A:
      if (len !== 4) throw new DnsFormatError("A record data is not 4 bytes");
      d = { kind: "a", address: [r.u8(), r.u8(), r.u8(), r.u8()].join(".") };
      break;
    case TYPE.CNAME:
    case TYPE.PTR:
    case TYPE.NS:
      d = { kind: "name", name: readName(r) };
      break;
    case TYPE.SRV:
      d = { kind: "srv", priority: r.u16(), weight: r.u16(), port: r.u16(), target: readName(r) };
      break;
    case TYPE.SOA:
      d = {
        kind: "soa",
        mname: readName(r),
        rname: readName(r),
        serial: r.u32(),
        refresh: r.u32(),
        retry: r.u32(),
        expire: r.u32(),
        minimum: r.u32(),
      };
      break;
    default:
      d = { kind: "raw", bytes: r.bytes(len) };
  }
  if (r.pos !== end) throw new DnsFormatError(`record data length mismatch (type ${type})`);
  return d;
}

function readRecord(r: Reader): ResourceRecord {
  const name = readName(r);
  const type = r.u16();
  const cls = r.u16();
  const ttl = r.u32();
  const len = r.u16();
  return { name, type, class: cls, ttl, data: readRData(r, type, len) };
}

/** Decodes the 12-byte header only (enough to answer FORMERR to a query that fails later). */
export function decodeHeader(b: Uint8Array): Header {
  if (b.length < 12) throw new DnsFormatError("shorter than a DNS header");
  const f = (b[2] << 8) | b[3];
  return {
    id: (b[0] << 8) | b[1],
    qr: (f & 0x8000) !== 0,
    opcode: (f >> 11) & 0xf,
    aa: (f & 0x0400) !== 0,
    tc: (f & 0x0200) !== 0,
    rd: (f & 0x0100) !== 0,
    ra: (f & 0x0080) !== 0,
    rcode: f & 0xf,
  };
}

/** Decodes a whole message; throws {@link DnsFormatError} on anything malformed. */
export function decodeMessage(b: Uint8Array): Message {
  if (b.length > MAX_MESSAGE) throw new DnsFormatError("message too long");
  const h = decodeHeader(b);
  const r = new Reader(b);
  r.pos = 4;
  const counts = [r.u16(), r.u16(), r.u16(), r.u16()];
  // Each question takes ≥ 5 bytes and each record ≥ 11: bogus counts fail on the bounds checks
  // long before the loops grow large.
  const questions: Question[] = [];
  for (let i = 0; i < counts[0]; i++) {
    questions.push({ name: readName(r), type: r.u16(), class: r.u16() });
  }
  const sections: ResourceRecord[][] = [[], [], []];
  for (let s = 0; s < 3; s++) {
    for (let i = 0; i < counts[s + 1]; i++) sections[s].push(readRecord(r));
  }
  if (r.pos !== b.length) throw new DnsFormatError("trailing bytes after the last record");
  return { ...h, questions, answers: sections[0], authority: sections[1], additional: sections[2] };
}

/** Byte length of the question section of `b` (header + questions), for relay checks. */
export function questionEnd(b: Uint8Array): number {
  const r = new Reader(b);
  r.pos = 4;
  const qd = r.u16();
  r.pos = 12;
  for (let i = 0; i < qd; i++) {
    readName(r);
    r.need(4);
    r.pos += 4;
  }
  return r.pos;
}

/** Splits dotted text into wire labels, undoing `\DDD` and `\c` escapes. */
function nameLabels(name: string): Uint8Array[] {
  if (name === "" || name === ".") return [];
  const out: Uint8Array[] = [];
  let cur: number[] = [];
  const s = name.endsWith(".") && !name.endsWith("\\.") ? name.slice(0, -1) : name;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x5c) {
      const d = /^\d{3}/.exec(s.slice(i + 1));
      if (d && Number(d[0]) < 256) {
        cur.push(Number(d[0]));
        i += 3;
      } else if (i + 1 < s.length) {
        cur.push(s.charCodeAt(++i) & 0xff);
      } else {
        throw new Error(`bad escape at the end of ${JSON.stringify(name)}`);
      }
    } else if (c === 0x2e) {
      out.push(new Uint8Array(cur));
      cur = [];
    } else {
      if (c > 0xff) throw new Error(`non-ASCII name ${JSON.stringify(name)}`);
      cur.push(c);
    }
  }
  out.push(new Uint8Array(cur));
  for (const l of out) {
    if (l.length === 0 || l.length > MAX_LABEL) throw new Error(`bad label in ${name}`);
  }
  if (out.reduce((n, l) => n + l.length + 1, 1) > MAX_NAME) throw new Error(`name too long`);
  return out;
}

/** A growing output buffer with name compression. */
class Writer {
  b = new Uint8Array(512);
  len = 0;
  readonly #names = new Map<string, number>();

  #grow(n: number): void {
    if (this.len + n <= this.b.length) return;
    const nb = new Uint8Array(Math.max(this.b.length * 2, this.len + n));
    nb.set(this.b.subarray(0, this.len));
    this.b = nb;
  }
  u8(v: number): void {
    this.#grow(1);
    this.b[this.len++] = v;
  }
  u16(v: number): void {
    this.#grow(2);
    this.b[this.len++] = (v >> 8) & 0xff;
    this.b[this.len++] = v & 0xff;
  }
  u32(v: number): void {
    this.u16((v >>> 16) & 0xffff);
    this.u16(v & 0xffff);
  }
  bytes(v: Uint8Array): void {
    this.#grow(v.length);
    this.b.set(v, this.len);
    this.len += v.length;
  }
  /** Writes a name, pointing at an earlier occurrence of any of its suffixes. */
  name(name: string, compress = true): void {
    const labels = nameLabels(name);
    for (let i = 0; i < labels.length; i++) {
      const key = labels.slice(i).map((l) => labelText(l).toLowerCase()).join(".");
      const at = compress ? this.#names.get(key) : undefined;
      if (at !== undefined) {
        this.u16(0xc000 | at);
        return;
      }
      if (compress && this.len < 0x4000) this.#names.set(key, this.len);
      this.u8(labels[i].length);
      this.bytes(labels[i]);
    }
    this.u8(0);
  }
  set16(at: number, v: number): void {
    this.b[at] = (v >> 8) & 0xff;
    this.b[at + 1] = v & 0xff;
  }
}

function writeRData(w: Writer, rr: ResourceRecord): void {
  const lenAt = w.len;
  w.u16(0);
  const start = w.len;
  const d = rr.data;
  switch (d.kind) {
    case "a": {
      const p = d.address.split(".").map(Number);
      if (p.length !== 4 || p.some((x) => !(x >= 0 && x <= 255))) {
        throw new Error(`not an IPv4 address: ${d.address}`);
      }
      for (const x of p) w.u8(x);
      break;
    }
    case "name":
      w.name(d.name);
      break;
    case "srv":
      w.u16(d.priority);
      w.u16(d.weight);
      w.u16(d.port);
      // RFC 2782: the SRV target is not compressed.
      w.name(d.target, false);
      break;
    case "soa":
      w.name(d.mname);
      w.name(d.rname);
      for (const v of [d.serial, d.refresh, d.retry, d.expire, d.minimum]) w.u32(v);
      break;
    case "raw":
      w.bytes(d.bytes);
  }
  w.set16(lenAt, w.len - start);
}

/** Encodes a message (section counts from the arrays). */
export function encodeMessage(m: Message): Uint8Array {
  const w = new Writer();
  w.u16(m.id);
  w.u16(
    (m.qr ? 0x8000 : 0) | ((m.opcode & 0xf) << 11) | (m.aa ? 0x0400 : 0) | (m.tc ? 0x0200 : 0) |
      (m.rd ? 0x0100 : 0) | (m.ra ? 0x0080 : 0) | (m.rcode & 0xf),
  );
  for (const s of [m.questions, m.answers, m.authority, m.additional]) w.u16(s.length);
  for (const q of m.questions) {
    w.name(q.name);
    w.u16(q.type);
    w.u16(q.class);
  }
  for (const rr of [...m.answers, ...m.authority, ...m.additional]) {
    w.name(rr.name);
    w.u16(rr.type);
    w.u16(rr.class);
    w.u32(rr.ttl);
    writeRData(w, rr);
  }
  if (w.len > MAX_MESSAGE) throw new Error("DNS message longer than 65535 bytes");
  return w.b.slice(0, w.len);
}

/** A recursion-desired query for `name` (class IN); `part` overrides header fields. */
export function queryMessage(
  name: string,
  type: number = TYPE.A,
  part: Partial<Message> = {},
): Uint8Array {
  return encodeMessage({
    id: 1,
    qr: false,
    opcode: 0,
    aa: false,
    tc: false,
    rd: true,
    ra: false,
    rcode: 0,
    questions: [{ name, type, class: 1 }],
    answers: [],
    authority: [],
    additional: [],
    ...part,
  });
}
