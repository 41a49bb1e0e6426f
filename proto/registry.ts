/**
 * Index over the generated descriptors of all our protos: the files, a registry of every type
 * (for @bufbuild/cel and for `Any`/JSON), the gRPC services by full name, each method by its wire
 * path, and each method's `metropolis.proto.ext.authorization` option.
 */
import { createRegistry, getOption, hasOption } from "@bufbuild/protobuf";
import type { DescFile, DescMethod, DescService, Registry } from "@bufbuild/protobuf";
import { file_version_spec_spec } from "./gen/version/spec/spec_pb.ts";
import { file_osbase_net_proto_net } from "./gen/osbase/net/proto/net_pb.ts";
import { file_osbase_logtree_proto_logtree } from "./gen/osbase/logtree/proto/logtree_pb.ts";
import {
  authorization,
  file_metropolis_proto_ext_authorization,
  type Permission,
} from "./gen/metropolis/proto/ext/authorization_pb.ts";
import { file_metropolis_proto_common_common } from "./gen/metropolis/proto/common/common_pb.ts";
import {
  file_metropolis_proto_api_management,
  Management,
  NodeManagement,
} from "./gen/metropolis/proto/api/management_pb.ts";
import { AAA, file_metropolis_proto_api_aaa } from "./gen/metropolis/proto/api/aaa_pb.ts";
import { file_metropolis_proto_api_configuration } from "./gen/metropolis/proto/api/configuration_pb.ts";
import {
  file_metropolis_proto_api_debug,
  NodeDebugService,
} from "./gen/metropolis/proto/api/debug_pb.ts";
import {
  Curator,
  CuratorLocal,
  file_metropolis_node_core_curator_proto_api_api,
} from "./gen/metropolis/node/core/curator/proto/api/api_pb.ts";
import { file_metropolis_node_core_curator_proto_private_storage } from "./gen/metropolis/node/core/curator/proto/private/storage_pb.ts";
import { file_metropolis_node_core_curator_proto_private_lock } from "./gen/metropolis/node/core/curator/proto/private/lock_pb.ts";
import { file_metropolis_proto_private_private } from "./gen/metropolis/proto/private/private_pb.ts";

/** Every .proto file of ours (public wire protos and private storage protos). */
export const OUR_FILES: readonly DescFile[] = [
  file_version_spec_spec,
  file_osbase_net_proto_net,
  file_osbase_logtree_proto_logtree,
  file_metropolis_proto_ext_authorization,
  file_metropolis_proto_common_common,
  file_metropolis_proto_api_management,
  file_metropolis_proto_api_aaa,
  file_metropolis_proto_api_configuration,
  file_metropolis_proto_api_debug,
  file_metropolis_node_core_curator_proto_api_api,
  file_metropolis_node_core_curator_proto_private_storage,
  file_metropolis_node_core_curator_proto_private_lock,
  file_metropolis_proto_private_private,
];

/** Our files plus every file they import (google well-known types), each once, sorted by name. */
export const ALL_FILES: readonly DescFile[] = (() => {
  const seen = new Map<string, DescFile>();
  const visit = (f: DescFile) => {
    if (seen.has(f.name)) return;
    seen.set(f.name, f);
    f.dependencies.forEach(visit);
  };
  OUR_FILES.forEach(visit);
  return [...seen.values()].sort((a, b) => a.name.localeCompare(b.name));
})();

/** A registry of every message, enum, extension and service in {@link ALL_FILES}. */
export const registry: Registry = createRegistry(...ALL_FILES);

/** The six gRPC services of the Cluster API, by full name (e.g. `metropolis.proto.api.AAA`). */
export const SERVICES: ReadonlyMap<string, DescService> = new Map(
  [Management, NodeManagement, AAA, NodeDebugService, Curator, CuratorLocal].map((
    s,
  ) => [s.typeName, s as DescService]),
);

/** The gRPC wire path of a method: `/<package>.<Service>/<Method>`. */
export function methodPath(method: DescMethod): string {
  return `/${method.parent.typeName}/${method.name}`;
}

const METHODS: ReadonlyMap<string, DescMethod> = new Map(
  [...SERVICES.values()].flatMap((s) => s.methods.map((m) => [methodPath(m), m])),
);

/** Looks up a method of {@link SERVICES} by its wire path; undefined if there is none. */
export function methodByPath(path: string): DescMethod | undefined {
  return METHODS.get(path);
}

/** The decoded `metropolis.proto.ext.authorization` method option. */
export interface MethodAuthorization {
  /** Permissions the caller must all hold. */
  need: Permission[];
  /** Callable without authentication (only meaningful when `need` is empty). */
  allowUnauthenticated: boolean;
}

const AUTHZ: ReadonlyMap<string, MethodAuthorization> = new Map(
  [...METHODS].filter(([, m]) => hasOption(m, authorization)).map(([path, m]) => {
    const a = getOption(m, authorization);
    return [
      path,
      Object.freeze({
        need: Object.freeze([...a.need]) as Permission[],
        allowUnauthenticated: a.allowUnauthenticated,
      }),
    ];
  }),
);

/**
 * The authorization option of the method at `methodPath`, read from the generated descriptors.
 * Undefined when the method carries no option (NodeDebugService) or is not one of ours; servers
 * must refuse such calls (fail-safe). An option that is present but empty (IssueCertificate)
 * yields `{need: [], allowUnauthenticated: false}`: any authenticated caller.
 */
export function authorizationOf(methodPath: string): MethodAuthorization | undefined {
  return AUTHZ.get(methodPath);
}
