/**
 * The client processes of `deno task bench heartbeats` as the bench sees them: a process holding
 * some of the simulated nodes, driven by one JSON line per command on its stdin and answering one
 * JSON line per event on its stdout. Two programs speak this protocol: heartbeat_worker.ts (Deno
 * and grpc-js, the project's own client code) and `kubeclient heartbeats` (kubepeer/heartbeats.go,
 * Go's TLS and HTTP/2). Their events are checked against {@link WorkerEvent}.
 */
import { z } from "zod";

const count = z.number().int().nonnegative();

/** Failures so far: attempts or streams that failed, the last message, a few distinct ones. */
const failures = {
  errors: count,
  lastError: z.string(),
  /** Up to five distinct messages (Go client only; the Deno one keeps the last). */
  errorSample: z.array(z.string()).optional(),
};

/** One event line of a client process. */
export const WorkerEvent = z.discriminatedUnion("ev", [
  /** The process seeded its nodes' records (Deno client; the Go one is given seeded nodes). */
  z.strictObject({ ev: z.literal("seeded"), ids: z.array(z.string()) }),
  /** Every node had its first heartbeat answered, `ms` after "connect". */
  z.strictObject({ ev: z.literal("connected"), ms: z.number().nonnegative(), ...failures }),
  /** Round-trip times (ms) since the last report; `streams`: nodes heartbeating now. */
  z.strictObject({
    ev: z.literal("report"),
    rtts: z.array(z.number().nonnegative()),
    reconnects: count,
    streams: count,
    ...failures,
  }),
  /** Nodes not yet heartbeating to the current target, given up, attempts in flight or queued. */
  z.strictObject({
    ev: z.literal("progress"),
    notMoved: count,
    gaveUp: count,
    pending: count,
    ...failures,
  }),
  /** After a retarget, every node heartbeats to the new leader. */
  z.strictObject({ ev: z.literal("moved"), ms: z.number().nonnegative() }),
  /**
   * Go client with `-watch`: every node has its all-nodes backlog from the current target, `ms`
   * after "connect" or the retarget.
   */
  z.strictObject({ ev: z.literal("watched"), ms: z.number().nonnegative() }),
]);
export type WorkerEvent = z.infer<typeof WorkerEvent>;
type Ev = WorkerEvent["ev"];
type EventOf<E extends Ev> = Extract<WorkerEvent, { ev: E }>;

/** Splits `n` nodes over processes of at most `per` nodes: [first index, count] each. */
export function spread(n: number, per: number): [number, number][] {
  const procs = Math.ceil(n / per);
  const out: [number, number][] = [];
  let first = 0;
  for (let i = 0; i < procs; i++) {
    const count = Math.floor(n / procs) + (i < n % procs ? 1 : 0);
    out.push([first, count]);
    first += count;
  }
  return out;
}

/** A running client process and its line protocol. */
export class Worker {
  readonly #child: Deno.ChildProcess;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #waiting = new Map<string, ((m: WorkerEvent) => void)[]>();
  readonly #unclaimed: WorkerEvent[] = [];
  #bad?: Error;

  /** Spawns `command args` (stdin and stdout are the protocol, stderr is inherited). */
  constructor(command: string, args: string[]) {
    this.#child = new Deno.Command(command, {
      args,
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    this.#writer = this.#child.stdin.getWriter();
    const stdout = this.#child.stdout;
    (async () => {
      let buf = "";
      for await (const c of stdout.pipeThrough(new TextDecoderStream())) {
        buf += c;
        let nl;
        while ((nl = buf.indexOf("\n")) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (!line.startsWith("{")) continue;
          const parsed = WorkerEvent.safeParse(JSON.parse(line));
          if (!parsed.success) {
            // A malformed event fails every wait from now on instead of passing as numbers.
            this.#bad = new Error(`client ${this.pid}: bad event ${line.slice(0, 200)}`);
            this.#bad.cause = parsed.error;
            this.kill();
            return;
          }
          const m = parsed.data;
          const waiter = this.#waiting.get(m.ev)?.shift();
          if (waiter) waiter(m);
          else this.#unclaimed.push(m); // nobody waits yet: kept for the next next(ev)
        }
      }
    })();
  }

  /** The Deno client process (heartbeat_worker.ts) for nodes `first`…`first + count - 1`. */
  static deno(first: number, count: number, interval: number, concurrency: number): Worker {
    const script = new URL("./heartbeat_worker.ts", import.meta.url).pathname;
    return new Worker(Deno.execPath(), [
      "run",
      "-A",
      // BENCH_WORKER_FLAGS: extra Deno flags for the client processes (e.g. `--cpu-prof`).
      ...(Deno.env.get("BENCH_WORKER_FLAGS")?.split(" ").filter(Boolean) ?? []),
      script,
      "--first",
      String(first),
      "--count",
      String(count),
      "--interval",
      String(interval),
      "--concurrency",
      String(concurrency),
    ]);
  }

  get pid(): number {
    return this.#child.pid;
  }

  /** Writes `ms` as one JSON line each, in one write. */
  async send(...ms: Record<string, unknown>[]): Promise<void> {
    const text = ms.map((m) => JSON.stringify(m) + "\n").join("");
    await this.#writer.write(new TextEncoder().encode(text));
  }

  /** The next event `ev`; fails when the process exits first or sent a malformed event. */
  next<E extends Ev>(ev: E): Promise<EventOf<E>> {
    const i = this.#unclaimed.findIndex((m) => m.ev === ev);
    if (i >= 0) return Promise.resolve(this.#unclaimed.splice(i, 1)[0] as EventOf<E>);
    return Promise.race([
      new Promise<EventOf<E>>((r) => {
        const l = this.#waiting.get(ev) ?? [];
        l.push(r as (m: WorkerEvent) => void);
        this.#waiting.set(ev, l);
      }),
      this.#child.status.then((s) => {
        throw this.#bad ??
          new Error(`heartbeat client ${this.pid} exited (${s.code}) before "${ev}"`);
      }),
    ]);
  }

  /** The process's progress: nodes not yet up or moved, given up, attempts in progress. */
  async progress(): Promise<EventOf<"progress">> {
    await this.send({ cmd: "progress" });
    return await this.next("progress");
  }

  kill(): void {
    try {
      this.#child.kill("SIGKILL");
    } catch { /* gone */ }
  }

  async stop(): Promise<void> {
    await this.send({ cmd: "stop" }).catch(() => {});
    await this.#writer.close().catch(() => {});
    const t = setTimeout(() => this.kill(), 10_000);
    await this.#child.status;
    clearTimeout(t);
  }
}
