/**
 * A small fake apiserver for tests of the agent's Kubernetes services (reconciler, labelmaker):
 * HTTPS with a throwaway CA, reached through the real {@link KubeClient}, serving cluster-scoped
 * collections with LIST, WATCH, GET, DELETE and a server-side apply that models what these
 * services rely on: create on apply, top-level fields replaced, `metadata.labels` owned per field
 * manager (a manager's label disappears when its next apply omits it; others' labels stay) with
 * matching `managedFields`, and immutable fields answered with 422 Invalid.
 */
import {
  CA,
  certificatePem,
  type CertTemplate,
  exportPkcs8Pem,
  generateEd25519,
  MemoryPkiStorage,
} from "../../base/pki/mod.ts";
import { KubeClient, type KubeObject } from "../client/client.ts";
import { KINDS } from "./objects.ts";

/** Collections the fake serves: the reconciler's kinds and Nodes. */
const COLLECTIONS = new Set([...KINDS.map((k) => k.path), "/api/v1/nodes"]);

/** Fields the fake refuses to change on apply, by collection path suffix (as the real one does). */
const IMMUTABLE: Record<string, string[]> = {
  runtimeclasses: ["handler"],
  storageclasses: ["provisioner", "reclaimPolicy", "volumeBindingMode"],
};

/** A running fake apiserver. */
export interface FakeApiserver {
  /** A client of it (close() closes it too). */
  client: KubeClient;
  /** Objects by path (`<collection>/<name>`). */
  objects: Map<string, KubeObject>;
  /** A new client with the fake's credentials for `server` (default: the fake itself). */
  connect(server?: string): KubeClient;
  /** Every request as `METHOD path?query`, in order. */
  requests: string[];
  /** Stores `o` at `<collection>/<name>` as another writer would (an Update, no managedFields). */
  put(collection: string, o: KubeObject): void;
  /** Deletes an object as another writer would. */
  remove(collection: string, name: string): void;
  /** Answers every request with 503 while true (an apiserver that went away). */
  down: boolean;
  close(): Promise<void>;
}

interface Watch {
  collection: string;
  send(type: string, o: KubeObject): void;
}

/** Starts the fake on an ephemeral port of 127.0.0.1. */
export async function startFakeApiserver(): Promise<FakeApiserver> {
  const ca = new CA({
    storage: new MemoryPkiStorage(),
    name: "ca",
    template: { commonName: "test-ca", isCA: true, keyUsage: ["certSign", "digitalSignature"] },
  });
  const issue = async (name: string, t: Omit<CertTemplate, "keyUsage" | "isCA">) => {
    const k = await generateEd25519();
    const der = await ca.ensure(
      name,
      { ...t, keyUsage: ["digitalSignature"], isCA: false },
      k.publicKey,
    );
    return { cert: certificatePem(der), key: await exportPkcs8Pem(k.privateKey) };
  };
  const server = await issue("apiserver", {
    commonName: "apiserver",
    ipAddresses: ["127.0.0.1"],
    extKeyUsage: ["serverAuth"],
  });
  const master = await issue("master", { commonName: "master", extKeyUsage: ["clientAuth"] });

  const objects = new Map<string, KubeObject>();
  const requests: string[] = [];
  const watches = new Set<Watch>();
  let rv = 1;

  const emit = (collection: string, type: string, o: KubeObject) => {
    for (const w of watches) if (w.collection === collection) w.send(type, o);
  };
  const store = (path: string, o: KubeObject, type: string) => {
    o.metadata.resourceVersion = String(++rv);
    objects.set(path, o);
    emit(path.slice(0, path.lastIndexOf("/")), type, o);
  };
  const drop = (path: string) => {
    const o = objects.get(path);
    if (!o) return false;
    objects.delete(path);
    o.metadata.resourceVersion = String(++rv);
    emit(path.slice(0, path.lastIndexOf("/")), "DELETED", o);
    return true;
  };
  const status = (code: number, reason: string, message = reason) =>
    Response.json({ kind: "Status", status: "Failure", code, reason, message }, { status: code });

  const apply = (path: string, manager: string, body: KubeObject): Response => {
    const old = objects.get(path);
    const next: KubeObject = structuredClone(old ?? { metadata: { name: body.metadata.name } });
    const kind = path.split("/").at(-2)!;
    for (const [k, v] of Object.entries(body)) {
      if (k === "metadata") continue;
      if (
        old && k in old && IMMUTABLE[kind]?.includes(k) &&
        JSON.stringify(old[k]) !== JSON.stringify(v)
      ) {
        return status(422, "Invalid", `${k}: field is immutable`);
      }
      next[k] = structuredClone(v);
    }
    const mf: KubeObject[] = next.metadata.managedFields ?? [];
    const mine = mf.find((f) => f.manager === manager);
    const ownedBefore = Object.keys(mine?.fieldsV1?.["f:metadata"]?.["f:labels"] ?? {}).map((f) =>
      f.slice(2)
    );
    const ownedByOthers = new Set(
      mf.filter((f) => f !== mine).flatMap((f) =>
        Object.keys(f.fieldsV1?.["f:metadata"]?.["f:labels"] ?? {}).map((x) => x.slice(2))
      ),
    );
    const labels: Record<string, string> = { ...(next.metadata.labels ?? {}) };
    const want: Record<string, string> = body.metadata.labels ?? {};
    for (const k of ownedBefore) if (!(k in want) && !ownedByOthers.has(k)) delete labels[k];
    Object.assign(labels, want);
    next.metadata.labels = labels;
    const entry = {
      manager,
      operation: "Apply",
      fieldsType: "FieldsV1",
      fieldsV1: {
        "f:metadata": {
          "f:labels": Object.fromEntries(Object.keys(want).map((k) => [`f:${k}`, {}])),
        },
      },
    };
    next.metadata.managedFields = [...mf.filter((f) => f !== mine), entry];
    const { resourceVersion: _r, ...a } = old?.metadata ?? {};
    const { resourceVersion: _s, ...b } = next.metadata;
    if (
      !old || JSON.stringify({ ...old, metadata: a }) !== JSON.stringify({ ...next, metadata: b })
    ) {
      store(path, next, old ? "MODIFIED" : "ADDED");
    }
    return Response.json(objects.get(path));
  };

  const fake: FakeApiserver = {
    client: undefined as unknown as KubeClient,
    connect: undefined as unknown as FakeApiserver["connect"],
    objects,
    requests,
    down: false,
    put(collection, o) {
      const path = `${collection}/${o.metadata.name}`;
      const old = objects.get(path);
      const next = structuredClone(o);
      next.metadata.managedFields ??= old?.metadata.managedFields;
      store(path, next, old ? "MODIFIED" : "ADDED");
    },
    remove(collection, name) {
      drop(`${collection}/${name}`);
    },
    async close() {
      fake.client.close();
      for (const w of watches) w.send("", {});
      await srv.shutdown();
    },
  };

  const srv = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    cert: server.cert,
    key: server.key,
    onListen: () => {},
  }, async (req) => {
    const url = new URL(req.url);
    const path = decodeURIComponent(url.pathname);
    requests.push(`${req.method} ${path}${url.search}`);
    if (fake.down) return status(503, "ServiceUnavailable");
    const collection = path.slice(0, path.lastIndexOf("/"));
    if (req.method === "GET" && url.searchParams.get("watch") === "1") {
      const from = Number(url.searchParams.get("resourceVersion") ?? "0");
      let ctl!: ReadableStreamDefaultController<Uint8Array>;
      const w: Watch = {
        collection: path,
        send(type, o) {
          try {
            if (!type) return ctl.close();
            if (Number(o.metadata.resourceVersion) > from) {
              ctl.enqueue(new TextEncoder().encode(JSON.stringify({ type, object: o }) + "\n"));
            }
          } catch { /* client went away */ }
        },
      };
      const body = new ReadableStream<Uint8Array>({
        start: (c) => {
          ctl = c;
          watches.add(w);
        },
        cancel: () => {
          watches.delete(w);
        },
      });
      req.signal.addEventListener("abort", () => watches.delete(w));
      return new Response(body, { headers: { "content-type": "application/json" } });
    }
    if (req.method === "GET") {
      const o = objects.get(path);
      if (o) return Response.json(o);
      const items = [...objects.entries()].filter(([p]) =>
        p.startsWith(path + "/") &&
        !p.slice(path.length + 1).includes("/")
      ).map(([, o]) => o);
      if (COLLECTIONS.has(path)) {
        return Response.json({ items, metadata: { resourceVersion: String(rv) } });
      }
      return status(404, "NotFound");
    }
    if (req.method === "DELETE") {
      return drop(path)
        ? Response.json({ kind: "Status", status: "Success" })
        : status(404, "NotFound");
    }
    if (req.method === "PATCH") {
      if (req.headers.get("content-type") !== "application/apply-patch+yaml") {
        return status(415, "UnsupportedMediaType");
      }
      const manager = url.searchParams.get("fieldManager");
      if (!manager || url.searchParams.get("force") !== "true") return status(400, "BadRequest");
      const body = JSON.parse(await req.text());
      if (body.metadata?.name !== path.slice(collection.length + 1)) {
        return status(400, "BadRequest");
      }
      return apply(path, manager, body);
    }
    return status(405, "MethodNotAllowed");
  });
  const caPem = certificatePem(await ca.certificate());
  const url = `https://127.0.0.1:${srv.addr.port}`;
  fake.connect = (server = url) =>
    new KubeClient({ server, caPem, certPem: master.cert, keyPem: master.key });
  fake.client = fake.connect();
  return fake;
}
