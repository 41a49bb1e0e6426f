/**
 * A local read-only OCI registry for tests and the launcher: serves OCI image-layout
 * directories (os-image's `oci/`) under repository names with the pull endpoints of the OCI
 * distribution spec — `GET|HEAD /v2/`, `/v2/<repo>/manifests/<tag|digest>`,
 * `/v2/<repo>/blobs/<digest>` — and nothing else (405 for other methods). Whatever is on disk is
 * served as it is, so a test corrupts a blob file to exercise the node's verification.
 *
 * CLI: `deno run -A e2e/registry/server.ts --port=5000 <repo>=<layout dir>...`
 * @module
 */
import { join } from "node:path";

/** Options of {@link serveRegistry}. */
export interface RegistryOptions {
  /** Repository name → OCI layout directory. */
  repos: Record<string, string>;
  /** Port (0 = any free). */
  port?: number;
  /** Address to bind (default 0.0.0.0: VMs reach it through the host's bridge address). */
  hostname?: string;
}

/** A running registry. */
export interface Registry {
  port: number;
  /** Requests served (path, status), for tests. */
  log: Array<{ path: string; status: number }>;
  close(): Promise<void>;
}

const DIGEST = /^sha256:[0-9a-f]{64}$/;
const MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json";

/** What a request resolves to, before any I/O on blobs. */
export type Route =
  | { kind: "base" }
  | { kind: "manifest"; repo: string; reference: string }
  | { kind: "blob"; repo: string; digest: string }
  | { kind: "error"; status: number; code: string; message: string };

/** Routes a request path (pure). */
export function route(method: string, path: string, repos: readonly string[]): Route {
  if (method !== "GET" && method !== "HEAD") {
    return { kind: "error", status: 405, code: "UNSUPPORTED", message: "read-only registry" };
  }
  if (path === "/v2/" || path === "/v2") return { kind: "base" };
  const m = /^\/v2\/(.+)\/(manifests|blobs)\/([^/]+)$/.exec(path);
  if (!m) return { kind: "error", status: 404, code: "NOT_FOUND", message: "no such endpoint" };
  const [, repo, what, ref] = m;
  if (!repos.includes(repo)) {
    return { kind: "error", status: 404, code: "NAME_UNKNOWN", message: `repository ${repo}` };
  }
  if (what === "blobs") {
    if (!DIGEST.test(ref)) {
      return { kind: "error", status: 400, code: "DIGEST_INVALID", message: ref };
    }
    return { kind: "blob", repo, digest: ref };
  }
  return { kind: "manifest", repo, reference: ref };
}

function errorResponse(status: number, code: string, message: string): Response {
  return Response.json({ errors: [{ code, message }] }, { status });
}

async function manifestDigest(dir: string, reference: string): Promise<string | undefined> {
  if (DIGEST.test(reference)) return reference;
  const index = JSON.parse(await Deno.readTextFile(join(dir, "index.json")));
  for (const d of index.manifests ?? []) {
    const name = d.annotations?.["org.opencontainers.image.ref.name"];
    if (name === reference || (reference === "latest" && !name)) return d.digest;
  }
  return undefined;
}

async function blob(dir: string, digest: string, head: boolean, type: string): Promise<Response> {
  const path = join(dir, "blobs", ...digest.split(":"));
  let f: Deno.FsFile;
  try {
    f = await Deno.open(path);
  } catch {
    return errorResponse(404, "BLOB_UNKNOWN", digest);
  }
  const size = (await f.stat()).size;
  const headers = {
    "Content-Type": type,
    "Content-Length": String(size),
    "Docker-Content-Digest": digest,
  };
  if (head) {
    f.close();
    return new Response(null, { headers });
  }
  return new Response(f.readable, { headers });
}

/** Serves the repositories until {@link Registry.close}. */
export function serveRegistry(o: RegistryOptions): Promise<Registry> {
  const repos = Object.keys(o.repos);
  const log: Registry["log"] = [];
  const handler = async (req: Request): Promise<Response> => {
    const path = new URL(req.url).pathname;
    const r = route(req.method, path, repos);
    const head = req.method === "HEAD";
    let res: Response;
    switch (r.kind) {
      case "base":
        res = Response.json({});
        break;
      case "error":
        res = errorResponse(r.status, r.code, r.message);
        break;
      case "manifest": {
        const digest = await manifestDigest(o.repos[r.repo], r.reference);
        res = digest
          ? await blob(o.repos[r.repo], digest, head, MANIFEST_TYPE)
          : errorResponse(404, "MANIFEST_UNKNOWN", r.reference);
        break;
      }
      case "blob":
        res = await blob(o.repos[r.repo], r.digest, head, "application/octet-stream");
    }
    log.push({ path, status: res.status });
    return res;
  };
  return new Promise((resolve) => {
    const server = Deno.serve({
      port: o.port ?? 0,
      hostname: o.hostname ?? "0.0.0.0",
      onListen: ({ port }) => resolve({ port, log, close: () => server.shutdown() }),
    }, handler);
  });
}

if (import.meta.main) {
  const repos: Record<string, string> = {};
  let port = 5000;
  for (const a of Deno.args) {
    if (a.startsWith("--port=")) port = Number(a.slice(7));
    else if (a.includes("=")) {
      const [k, v] = a.split("=", 2);
      repos[k] = v;
    } else {
      console.error("usage: server.ts [--port=N] <repo>=<oci layout dir>...");
      Deno.exit(2);
    }
  }
  const r = await serveRegistry({ repos, port });
  console.log(`registry: serving ${Object.keys(repos).join(", ")} on port ${r.port}`);
}
