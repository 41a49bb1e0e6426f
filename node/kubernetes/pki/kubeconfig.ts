/**
 * Kubeconfig files for Kubernetes components (kubernetes.md §4): one cluster, one user with an
 * inline client certificate and key, one context. JSON, which every kubeconfig loader accepts.
 */

/** What a kubeconfig names. */
export interface KubeconfigOptions {
  /** e.g. `https://127.0.0.1:6443`. */
  server: string;
  /** PEM of the CA the server certificate chains to (id-ca). */
  caPem: string;
  /** PEM of the client certificate. */
  certPem: string;
  /** PEM (PKCS#8) of the client key. */
  keyPem: string;
  /** Optional `tls-server-name` (when dialling an address not in the server's SANs). */
  tlsServerName?: string;
}

const b64 = (s: string) => btoa(s);

/** Returns the kubeconfig text. Throws if `server` is not an https URL. */
export function renderKubeconfig(o: KubeconfigOptions): string {
  if (!/^https:\/\/[^/]+$/.test(o.server)) {
    throw new Error(
      `kubeconfig: server must be https://host:port, got ${JSON.stringify(o.server)}`,
    );
  }
  return JSON.stringify(
    {
      apiVersion: "v1",
      kind: "Config",
      clusters: [{
        name: "metropolis",
        cluster: {
          server: o.server,
          "certificate-authority-data": b64(o.caPem),
          ...(o.tlsServerName ? { "tls-server-name": o.tlsServerName } : {}),
        },
      }],
      users: [{
        name: "component",
        user: { "client-certificate-data": b64(o.certPem), "client-key-data": b64(o.keyPem) },
      }],
      contexts: [{ name: "default", context: { cluster: "metropolis", user: "component" } }],
      "current-context": "default",
    },
    null,
    2,
  ) + "\n";
}
