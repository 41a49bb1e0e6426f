/**
 * `metropolis.proto.api.AAA.Escrow` (node.md §12.10): only the owner flow. The owner proves the
 * initial owner key with a self-signed TLS certificate and receives the owner user certificate.
 */
import { create, fromBinary } from "@bufbuild/protobuf";
import { InitialOwnerSchema } from "../../../proto/gen/metropolis/node/core/curator/proto/private/storage_pb.ts";
import {
  type EscrowRequest,
  type EscrowResponse,
  EscrowResponse_ProofRequest_Kind as Kind,
  EscrowResponseSchema,
} from "../../../proto/gen/metropolis/proto/api/aaa_pb.ts";
import { equalBytes, importEd25519Public } from "../../base/pki/keys.ts";
import { OWNER_IDENTITY, userTemplate } from "../identity/profiles.ts";
import type { Caller } from "../rpc/auth.ts";
import type { Leader } from "./leader.ts";
import { INITIAL_OWNER_KEY } from "./keys.ts";
import {
  invalid,
  permissionDenied,
  StatusError,
  unauthenticated,
  unimplemented,
} from "./status.ts";

/** What the stream sends: responses, then either OK or `error`. */
export interface EscrowOutcome {
  responses: EscrowResponse[];
  error?: StatusError;
}

/** Runs the owner escrow for the first request of the stream. */
export async function escrow(
  leader: Leader,
  req: EscrowRequest,
  caller: Caller,
): Promise<EscrowOutcome> {
  const p = req.parameters;
  if (!p) return { responses: [], error: invalid("client parameters must be set") };
  if (p.requestedIdentityName !== OWNER_IDENTITY) {
    return {
      responses: [],
      error: unimplemented(`only the "${OWNER_IDENTITY}" identity can be escrowed`),
    };
  }
  if (p.publicKey.length !== 32) {
    return { responses: [], error: invalid("public_key must be 32 bytes") };
  }
  const proven = caller.kind === "unauthenticated" ? caller.provenKey : undefined;
  if (!proven) {
    return {
      responses: [create(EscrowResponseSchema, { needed: [{ kind: Kind.REFRESH_CERTIFICATE }] })],
      error: unauthenticated("present a self-signed certificate for the requested public key"),
    };
  }
  if (!equalBytes(proven, p.publicKey)) {
    return {
      responses: [],
      error: unimplemented("public_key differs from the TLS certificate's key"),
    };
  }
  const owner = await leader.kv.get(INITIAL_OWNER_KEY);
  const ownerKey = owner && fromBinary(InitialOwnerSchema, owner.value).publicKey;
  if (!ownerKey || !equalBytes(ownerKey, proven)) {
    return { responses: [], error: permissionDenied("this key is not the cluster owner's") };
  }
  leader.checkLeading();
  const cert = await leader.ca.ensure(
    OWNER_IDENTITY,
    userTemplate(OWNER_IDENTITY),
    await importEd25519Public(proven),
  );
  return {
    responses: [
      create(EscrowResponseSchema, {
        fulfilled: [{ kind: Kind.REFRESH_CERTIFICATE }],
        emittedCertificate: cert,
      }),
    ],
  };
}
