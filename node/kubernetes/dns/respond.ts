/**
 * One query in, one decision out (pure): a reply from the cluster table, a query to forward, or
 * nothing (input that must not be answered). Size limits and the TC bit are applied here, so
 * the transports only move bytes.
 * @module
 */
import {
  decodeHeader,
  decodeMessage,
  DnsFormatError,
  encodeMessage,
  type Message,
  RCODE,
  type ResourceRecord,
  TYPE,
} from "./message.ts";
import { type DnsTable, resolve } from "./table.ts";

/** Classic UDP limit without EDNS (RFC 1035). */
export const UDP_DEFAULT = 512;
/** The largest UDP reply we send even when a client offers more (DNS flag day 2020). */
export const UDP_MAX = 1232;

/** What to do with a received packet. */
export type Decision =
  | { kind: "reply"; bytes: Uint8Array }
  /** Not ours: relay `query` (the client's bytes) upstream. */
  | { kind: "forward"; query: Message }
  | { kind: "drop" };

/** The UDP payload size a query allows for its reply. */
export function udpLimit(q: Message): number {
  const opt = q.additional.find((r) => r.type === TYPE.OPT);
  return opt ? Math.min(Math.max(opt.class, UDP_DEFAULT), UDP_MAX) : UDP_DEFAULT;
}

function ourOpt(): ResourceRecord {
  return {
    name: "",
    type: TYPE.OPT,
    class: UDP_MAX,
    ttl: 0,
    data: { kind: "raw", bytes: new Uint8Array() },
  };
}

/** A reply echoing `q`'s id, question and RD bit. */
function reply(q: Message, rcode: number, part: Partial<Message> = {}): Message {
  const hasOpt = q.additional.some((r) => r.type === TYPE.OPT);
  return {
    id: q.id,
    qr: true,
    opcode: q.opcode,
    aa: false,
    tc: false,
    rd: q.rd,
    ra: true,
    rcode,
    questions: q.questions,
    answers: [],
    authority: [],
    ...part,
    additional: [...part.additional ?? [], ...(hasOpt ? [ourOpt()] : [])],
  };
}

/** A reply to a query too malformed to decode: id and RD from the header, no question. */
function formErr(b: Uint8Array): Uint8Array | undefined {
  try {
    const h = decodeHeader(b);
    if (h.qr) return undefined;
    return encodeMessage({
      ...h,
      qr: true,
      aa: false,
      tc: false,
      ra: true,
      rcode: RCODE.FORMERR,
      questions: [],
      answers: [],
      authority: [],
      additional: [],
    });
  } catch {
    return undefined;
  }
}

/**
 * Decides about `packet`; `maxSize` is the transport limit (65535 over TCP; undefined over UDP:
 * the query's EDNS size). Replies that do not fit are sent without records and with TC set, so
 * the client retries over TCP.
 */
export function respond(table: DnsTable, packet: Uint8Array, maxSize?: number): Decision {
  let q: Message;
  try {
    q = decodeMessage(packet);
  } catch (e) {
    if (!(e instanceof DnsFormatError)) throw e;
    const b = formErr(packet);
    return b ? { kind: "reply", bytes: b } : { kind: "drop" };
  }
  // Never answer responses: that would let a spoofed packet make two servers ping-pong.
  if (q.qr) return { kind: "drop" };
  if (q.opcode !== 0) return { kind: "reply", bytes: encodeMessage(reply(q, RCODE.NOTIMP)) };
  if (q.questions.length !== 1) {
    return { kind: "reply", bytes: encodeMessage(reply(q, RCODE.FORMERR)) };
  }
  const r = resolve(table, q.questions[0]);
  if (r.kind === "forward") return { kind: "forward", query: q };
  const m = reply(q, r.rcode, {
    aa: true,
    answers: r.answers,
    authority: r.authority,
    additional: r.additional,
  });
  const limit = maxSize ?? udpLimit(q);
  let bytes = encodeMessage(m);
  if (bytes.length > limit) {
    bytes = encodeMessage({ ...reply(q, r.rcode), aa: true, tc: true });
  }
  return { kind: "reply", bytes };
}

/** SERVFAIL for a forwarded query no upstream answered. */
export function servfail(q: Message): Uint8Array {
  return encodeMessage(reply(q, RCODE.SERVFAIL));
}
