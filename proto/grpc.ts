/**
 * Adapter from the generated protobuf-es service descriptors to @grpc/grpc-js: service
 * definitions for servers (`serviceDefinition`, `addService`) and typed promise/stream clients
 * (`makeClient`). Messages are encoded with `toBinary` and decoded strictly (`strict.ts`: a known
 * field with the wrong wire type is refused, not reinterpreted); a request that does not decode
 * makes the deserializer throw a `DecodeError`, which plain grpc-js answers with INTERNAL for that
 * call only (node/core/rpc's RpcServer turns it into INVALID_ARGUMENT).
 *
 * Handlers and clients accept either real messages or plain init objects (`MessageInitShape`) for
 * what they send: the serializer runs `create(schema, value)` first, which returns real messages
 * unchanged.
 */
import { Buffer } from "node:buffer";
import * as grpc from "@grpc/grpc-js";
import { create, toBinary } from "@bufbuild/protobuf";
import type {
  DescMessage,
  DescMethod,
  DescService,
  MessageInitShape,
  MessageShape,
} from "@bufbuild/protobuf";
import type { GenService, GenServiceMethods } from "@bufbuild/protobuf/codegenv2";
import { methodPath } from "./registry.ts";
import { decodeStrict } from "./strict.ts";

export { DecodeError, decodeStrict } from "./strict.ts";

export {
  authorizationOf,
  type MethodAuthorization,
  methodByPath,
  methodPath,
  SERVICES,
} from "./registry.ts";

/** The part of a method descriptor the typings below depend on. */
type MethodShape = Pick<DescMethod, "input" | "output" | "methodKind">;
/** A decoded message received by the side that handles method `M`'s requests. */
type In<M extends MethodShape> = MessageShape<M["input"]>;
/** A request as a client may give it: a message or a plain init object. */
type InInit<M extends MethodShape> = MessageInitShape<M["input"]>;
/** A decoded response as a client receives it. */
type Out<M extends MethodShape> = MessageShape<M["output"]>;
/** A response as a handler may give it: a message or a plain init object. */
type OutInit<M extends MethodShape> = MessageInitShape<M["output"]>;

/** The grpc-js handler type for one method, by its streaming kind. */
export type MethodHandler<M extends MethodShape> = M["methodKind"] extends "unary"
  ? grpc.handleUnaryCall<In<M>, OutInit<M>>
  : M["methodKind"] extends "server_streaming" ? grpc.handleServerStreamingCall<In<M>, OutInit<M>>
  : M["methodKind"] extends "client_streaming" ? grpc.handleClientStreamingCall<In<M>, OutInit<M>>
  : grpc.handleBidiStreamingCall<In<M>, OutInit<M>>;

/** Handlers for every method of a generated service, keyed by the method's `localName`. */
export type ServiceImplementation<S extends GenServiceMethods> = {
  [K in keyof S]: MethodHandler<S[K]>;
};

function serializer<D extends DescMessage>(schema: D): (v: MessageInitShape<D>) => Buffer {
  return (v) => {
    const bytes = toBinary(schema, create(schema, v));
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  };
}

function deserializer<D extends DescMessage>(schema: D): (b: Buffer) => MessageShape<D> {
  // A plain Uint8Array view, so `bytes` fields decode to Uint8Array (not Buffer) subarrays.
  return (b) => decodeStrict(schema, new Uint8Array(b.buffer, b.byteOffset, b.byteLength));
}

// deno-lint-ignore no-explicit-any
type AnyMethodDefinition = grpc.MethodDefinition<any, any>;

function methodDefinition(m: DescMethod): AnyMethodDefinition {
  return {
    path: methodPath(m),
    originalName: m.name,
    requestStream: m.methodKind === "client_streaming" || m.methodKind === "bidi_streaming",
    responseStream: m.methodKind === "server_streaming" || m.methodKind === "bidi_streaming",
    requestSerialize: serializer(m.input),
    requestDeserialize: deserializer(m.input),
    responseSerialize: serializer(m.output),
    responseDeserialize: deserializer(m.output),
  };
}

const definitions = new WeakMap<DescService, grpc.ServiceDefinition>();

/**
 * The grpc-js service definition of a generated service. Keys are the methods' `localName`
 * (e.g. `getCACertificate`), paths are `/<package>.<Service>/<Method>`.
 */
export function serviceDefinition(service: DescService | GenService<GenServiceMethods>) {
  const s = service as DescService;
  let def = definitions.get(s);
  if (!def) {
    def = Object.fromEntries(s.methods.map((m) => [m.localName, methodDefinition(m)]));
    definitions.set(s, def);
  }
  return def;
}

/** Registers typed handlers for every method of `service` on a grpc-js server. */
export function addService<S extends GenServiceMethods>(
  server: grpc.Server,
  service: GenService<S>,
  impl: ServiceImplementation<S>,
): void {
  const missing = (service as DescService).methods.filter((m) => !(m.localName in impl));
  if (missing.length > 0) {
    throw new Error(
      `addService ${service.typeName}: no handler for ${
        missing.map((m) => m.localName).join(", ")
      }`,
    );
  }
  server.addService(
    serviceDefinition(service),
    impl as unknown as grpc.UntypedServiceImplementation,
  );
}

/** Per-call options of the typed client. */
export interface CallOptions {
  /** Request metadata (headers). */
  metadata?: grpc.Metadata;
  /** Absolute deadline (Date or ms since epoch); the call fails with DEADLINE_EXCEEDED after it. */
  deadline?: grpc.Deadline;
  /** Cancels the call (status CANCELLED) when aborted. */
  signal?: AbortSignal;
  /** Further grpc-js call options (credentials, propagation, interceptors). */
  grpc?: grpc.CallOptions;
}

/** The typed client call for one method, by its streaming kind. */
export type ClientMethod<M extends MethodShape> = M["methodKind"] extends "unary"
  ? (request: InInit<M>, options?: CallOptions) => Promise<Out<M>>
  : M["methodKind"] extends "server_streaming"
    ? (request: InInit<M>, options?: CallOptions) => grpc.ClientReadableStream<Out<M>>
  : M["methodKind"] extends "client_streaming" ? (
      requests: Iterable<InInit<M>> | AsyncIterable<InInit<M>>,
      options?: CallOptions,
    ) => Promise<Out<M>>
  : (options?: CallOptions) => grpc.ClientDuplexStream<InInit<M>, Out<M>>;

/**
 * A typed client for a generated service: one function per method (keyed by `localName`) plus
 * `$client` (the underlying grpc-js client) and `close()`. Unary and client-streaming calls
 * return promises rejecting with a grpc-js `ServiceError` (`.code` is the status); server-streaming
 * calls return the grpc-js readable stream (async-iterable, `.cancel()`); bidi calls return the
 * duplex stream (`.write()`, `.end()`, async-iterable).
 */
export type ServiceClient<S extends GenServiceMethods> =
  & { [K in keyof S]: ClientMethod<S[K]> }
  & {
    /** The underlying grpc-js client (channel state, waitForReady). */
    readonly $client: grpc.Client;
    /** Closes the channel. */
    close(): void;
  };

function callOpts(o: CallOptions | undefined): grpc.CallOptions {
  return { ...o?.grpc, ...(o?.deadline !== undefined ? { deadline: o.deadline } : {}) };
}

function bindSignal(signal: AbortSignal | undefined, call: { cancel(): void }) {
  if (!signal) return;
  if (signal.aborted) call.cancel();
  else signal.addEventListener("abort", () => call.cancel(), { once: true });
}

/**
 * Creates a typed client for `service`, talking to `address` (grpc-js target, e.g.
 * `127.0.0.1:7835` or `unix:///path`) with `credentials`. `options` are grpc-js channel options
 * (e.g. `grpc.ssl_target_name_override`, or `channelOverride` to share a channel).
 */
export function makeClient<S extends GenServiceMethods>(
  service: GenService<S>,
  address: string,
  credentials: grpc.ChannelCredentials,
  options?: grpc.ClientOptions,
): ServiceClient<S> {
  const client = new grpc.Client(address, credentials, options);
  // deno-lint-ignore no-explicit-any
  const out: Record<string, any> = {
    $client: client,
    close: () => client.close(),
  };
  for (const m of (service as DescService).methods) {
    const d = methodDefinition(m);
    const md = (o?: CallOptions) => o?.metadata ?? new grpc.Metadata();
    switch (m.methodKind) {
      case "unary":
        out[m.localName] = (req: unknown, o?: CallOptions) =>
          new Promise((resolve, reject) => {
            const call = client.makeUnaryRequest(
              d.path,
              d.requestSerialize,
              d.responseDeserialize,
              req,
              md(o),
              callOpts(o),
              (err, res) => err ? reject(err) : resolve(res),
            );
            bindSignal(o?.signal, call);
          });
        break;
      case "server_streaming":
        out[m.localName] = (req: unknown, o?: CallOptions) => {
          const call = client.makeServerStreamRequest(
            d.path,
            d.requestSerialize,
            d.responseDeserialize,
            req,
            md(o),
            callOpts(o),
          );
          bindSignal(o?.signal, call);
          return call;
        };
        break;
      case "client_streaming":
        out[m.localName] = (reqs: Iterable<unknown> | AsyncIterable<unknown>, o?: CallOptions) =>
          new Promise((resolve, reject) => {
            const call = client.makeClientStreamRequest(
              d.path,
              d.requestSerialize,
              d.responseDeserialize,
              md(o),
              callOpts(o),
              (err, res) => err ? reject(err) : resolve(res),
            );
            bindSignal(o?.signal, call);
            pump(reqs, call).catch((e) => {
              call.cancel();
              reject(e);
            });
          });
        break;
      case "bidi_streaming":
        out[m.localName] = (o?: CallOptions) => {
          const call = client.makeBidiStreamRequest(
            d.path,
            d.requestSerialize,
            d.responseDeserialize,
            md(o),
            callOpts(o),
          );
          bindSignal(o?.signal, call);
          return call;
        };
        break;
    }
  }
  return out as ServiceClient<S>;
}

/** Writes every request of `reqs` to `call` honouring back-pressure, then half-closes it. */
async function pump(
  reqs: Iterable<unknown> | AsyncIterable<unknown>,
  call: grpc.ClientWritableStream<unknown>,
): Promise<void> {
  for await (const r of reqs) {
    if (!call.write(r)) {
      await new Promise<void>((resolve) => {
        const done = () => {
          call.off("drain", done);
          call.off("close", done);
          resolve();
        };
        call.on("drain", done);
        call.on("close", done);
      });
    }
  }
  call.end();
}
