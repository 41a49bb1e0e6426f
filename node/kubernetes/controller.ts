/**
 * The KubernetesController role (kubernetes.md §1, DNs `root.role.kubernetes.controller.*`):
 * 1. `apiserver` (on this node's etcd), `reconciler`, `labelmaker`, `metricsproxy`;
 * 2. once the reconciler reports DONE (builtin RBAC and classes in place, by a compatible
 *    version): `controller-manager`, `scheduler` and `authproxy` (users reach Kubernetes only
 *    once their owner binding exists).
 * Every component is its own supervised runnable: one that fails is restarted on its own with
 * backoff (e.g. the reconciler while the apiserver is still starting).
 */
import { Value } from "../base/event/value.ts";
import { type Context, run, type Runnable } from "../base/supervisor/supervisor.ts";
import { apiserver } from "./apiserver/apiserver.ts";
import { authproxy } from "./authproxy/authproxy.ts";
import { KubeClient } from "./client/client.ts";
import { controllerManager } from "./controller_manager/controller_manager.ts";
import type { ControllerDeps } from "./deps.ts";
import { labelmaker } from "./labelmaker/labelmaker.ts";
import { metricsProxy } from "./metricsproxy/metricsproxy.ts";
import { APISERVER_LOCAL } from "./paths.ts";
import { KubernetesPKI } from "./pki/kubepki.ts";
import { reconciler } from "./reconciler/reconciler.ts";
import { scheduler } from "./scheduler/scheduler.ts";

/** Runs `inner(client)` with a client of the local apiserver as `master`, closed afterwards. */
export function withMasterClient(
  pki: KubernetesPKI,
  inner: (client: KubeClient) => Runnable,
): Runnable {
  return async (ctx) => {
    const master = await pki.identity("master");
    const client = new KubeClient({
      server: APISERVER_LOCAL,
      caPem: await pki.caPem("id-ca"),
      certPem: master.certPem,
      keyPem: master.keyPem,
    });
    try {
      await inner(client)(ctx);
    } finally {
      client.close();
    }
  };
}

/** Runs `r` once `done` is true (the component waits in state NEW until then). */
export function afterDone(done: Value<boolean>, r: Runnable): Runnable {
  return async (ctx) => {
    await done.waitFor((d) => d, ctx.signal);
    await r(ctx);
  };
}

/** Adds the controller components as children of `ctx` (the role gate's context). */
export function startController(ctx: Context, deps: ControllerDeps): void {
  const pki = KubernetesPKI.onKV(deps.controlPlane.kv);
  const done = new Value<boolean>(false);
  const kv = deps.controlPlane.kv;
  run(ctx, "apiserver", apiserver({ pki, address: deps.address, controlPlane: deps.controlPlane }));
  run(
    ctx,
    "reconciler",
    withMasterClient(
      pki,
      (client) => reconciler({ client, kv, done, nodeId: deps.identity.nodeId }),
    ),
  );
  run(
    ctx,
    "labelmaker",
    withMasterClient(pki, (client) => labelmaker({ client, nodes: deps.nodes, kv })),
  );
  run(ctx, "metricsproxy", metricsProxy({ pki }));
  run(ctx, "controller-manager", afterDone(done, controllerManager({ pki })));
  run(ctx, "scheduler", afterDone(done, scheduler({ pki })));
  run(
    ctx,
    "authproxy",
    afterDone(done, async (c) => {
      const client = await pki.identity("metropolis-auth-proxy-client");
      await authproxy({
        identity: deps.identity,
        upstreamCaPem: await pki.caPem("id-ca"),
        clientCertPem: client.certPem,
        clientKeyPem: client.keyPem,
      })(c);
    }),
  );
}
