/**
 * The one place that stops grpc-js's message decoder from keeping a stream's last incoming chunk.
 *
 * grpc-js 1.14 decodes every call's incoming bytes with a `StreamDecoder` that keeps the
 * compressed-flag byte of the message it last began as a slice of the chunk that carried it
 * (`readCompressFlag = data.slice(…)`) and that message's pieces (`readPartialMessage`), until
 * the stream's next message replaces them. On a heartbeat stream the next message comes 5 s later:
 * long enough for V8 to promote the chunk, its ArrayBuffer and the native memory behind it to the
 * old generation, where they wait for the next full collection, which a busy leader runs about
 * once a minute. A leader of 15,000 nodes receives 3,000 such chunks a second
 * (docs/benchmarks.md, "Leader memory").
 *
 * Decision: wrap `StreamDecoder.prototype.write` once per process; when a write ends between two
 * messages, the decoder drops both references (the next message's first byte sets them anew, so
 * nothing reads them in between). Inside a message they are kept, as the decoder needs them.
 * Messages and errors are the original's. A grpc-js whose decoder no longer has these fields is
 * refused at install (and by the unit test), so an upgrade cannot silently lose the fix.
 */
import { Buffer } from "node:buffer";
import { StreamDecoder } from "@grpc/grpc-js/build/src/stream-decoder.js";

/** The decoder's state between messages (grpc-js's `ReadState.NO_DATA`). */
const NO_DATA = 0;
/** What `readCompressFlag` holds between messages: never read before it is set again. */
const NO_FLAG = Buffer.alloc(1);
const MARK = Symbol.for("metropolis.rpc.decoderRelease");

/** The decoder fields the wrapper touches (private in grpc-js's typings). */
export interface DecoderFields {
  readState: number;
  readCompressFlag: Buffer;
  readPartialMessage: Buffer[];
}

/** Installs the wrapper (idempotent). Returns true when this call installed it. */
export function installDecoderRelease(): boolean {
  const proto = StreamDecoder.prototype as unknown as {
    write: (data: Buffer) => Buffer[];
    [MARK]?: true;
  };
  if (proto[MARK]) return false;
  const probe = new StreamDecoder(-1) as unknown as DecoderFields;
  if (
    probe.readState !== NO_DATA || !Buffer.isBuffer(probe.readCompressFlag) ||
    !Array.isArray(probe.readPartialMessage)
  ) {
    throw new Error("grpc-js StreamDecoder changed: the chunk-release wrapper needs a review");
  }
  const write = proto.write;
  proto.write = function (this: DecoderFields, data: Buffer): Buffer[] {
    const messages = write.call(this, data);
    if (this.readState === NO_DATA) {
      this.readCompressFlag = NO_FLAG;
      // A fresh array per message would itself live until the next message; emptying the one the
      // decoder made keeps nothing (the finished message was copied out by Buffer.concat).
      this.readPartialMessage.length = 0;
    }
    return messages;
  };
  proto[MARK] = true;
  return true;
}
