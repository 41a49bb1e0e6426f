/** Test helpers of the role workers. */
import type { TestCurator } from "../curator/testing.ts";
import { LeaderResolver } from "../rpc/resolver.ts";
import { LeaderClients } from "./context.ts";

/**
 * Leader clients dialled as the test curator's own node, through a started resolver seeded with
 * it; `close()` closes both (the curator stays up).
 */
export function testLeaderClients(c: TestCurator): {
  clients: LeaderClients;
  close(): Promise<void>;
} {
  const resolver = new LeaderResolver({
    seeds: [c.target],
    ca: c.caCertificate,
    identity: { certificate: c.nodeCertificate, privateKey: c.nodeKeys.privateKey },
    watchNodes: false,
  });
  resolver.start();
  const clients = new LeaderClients(resolver, {
    caCertificate: c.caCertificate,
    certificate: c.nodeCertificate,
    keys: c.nodeKeys,
  });
  return {
    clients,
    async close() {
      clients.close();
      await resolver.close();
    },
  };
}
