/**
 * The one way the agent makes an etcd client: to its own member's unix socket, without the etcd3
 * library's per-host circuit breaker. That breaker refuses every call for 5 s after three failed
 * ones in a row, which helps a client with other hosts to try; ours has one, local endpoint, so it
 * would only turn a short outage (etcd restarting, a slow compaction) into five more seconds of
 * refused calls — a curator's resignation or a new leader's first writes among them. Failures
 * still surface as errors; the supervisor restarts what cannot go on.
 * @module
 */
import { Etcd3 } from "etcd3";
import { noop } from "cockatiel";

/** Options of {@link etcdClient}. */
export interface EtcdClientOptions {
  /** How long a call waits for a connection (ms); the library's default if unset. */
  dialTimeout?: number;
}

/** A client of the etcd at `hosts` (an etcd3 host string, e.g. `unix:///…/client.sock:0`). */
export function etcdClient(hosts: string, o: EtcdClientOptions = {}): Etcd3 {
  return new Etcd3({
    hosts,
    ...(o.dialTimeout !== undefined ? { dialTimeout: o.dialTimeout } : {}),
    faultHandling: { host: () => noop },
  });
}
