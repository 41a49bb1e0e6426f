/**
 * The supervision tree (node.md §4), modelled on Erlang/OTP: runnables form a tree of DNs, a
 * failing runnable takes its subtree and its group down, and the highest stopped node whose parent
 * still runs is restarted (DEAD nodes with exponential backoff).
 */
import { type LeveledLogger, stackLocation } from "../logtree/logger.ts";
import type { LogTree } from "../logtree/logtree.ts";
import { Backoff } from "./backoff.ts";
import { nameError } from "./names.ts";

/** A supervised unit of work. It runs until done or until `ctx.signal` aborts. */
export type Runnable = (ctx: Context) => Promise<void>;

/** Lifecycle state of a supervision node (node.md §4.2). */
export type NodeState = "NEW" | "HEALTHY" | "DONE" | "DEAD" | "CANCELED";

/** Signals a runnable can send about itself. */
export type SignalKind = "healthy" | "done";

/** What a runnable receives: cancellation, its logger, its DN and the supervisor. */
export interface Context {
  /** Aborted when this runnable (or an ancestor, or a group sibling) must stop. */
  readonly signal: AbortSignal;
  /** Leveled logger writing to this runnable's DN. */
  readonly logger: LeveledLogger;
  /** DN of this runnable (`root`, `root.network`, …). */
  readonly dn: string;
  /** The supervisor running this runnable (gives access to the log tree). */
  readonly supervisor: Supervisor;
}

/** Injectable time and randomness, so backoff tests are exact and fast. */
export interface Timing {
  /** Uniform random number in [0, 1). */
  random(): number;
  /** Calls `fn` after `ms` milliseconds; returns a function that cancels the call. */
  schedule(ms: number, fn: () => void): () => void;
}

/** The real clock and Math.random. */
export const REAL_TIMING: Timing = {
  random: Math.random,
  schedule(ms, fn) {
    const t = setTimeout(fn, ms);
    return () => clearTimeout(t);
  },
};

/** Options of a {@link Supervisor}. */
export interface SupervisorOptions {
  /** Time source for restart delays and the root-exit wait (default {@link REAL_TIMING}). */
  timing?: Timing;
  /**
   * Called after the root runnable stopped (it is never restarted) and {@link rootExitDelayMs}
   * passed. The agent passes `sync()` + reboot; the default exits the process with status 1, which
   * makes `/init` reboot.
   */
  onRootExit?: (error: Error) => void;
  /** Wait between the FATAL line about the root and `onRootExit` (default 7000 ms). */
  rootExitDelayMs?: number;
}

/** DN of the supervisor's own log lines. */
export const SUPERVISOR_DN = "supervisor";

const STOPPED = new Set<NodeState>(["DONE", "DEAD", "CANCELED"]);

class Node {
  children = new Map<string, Node>();
  subLoggers = new Set<string>();
  group?: Set<Node>;
  state: NodeState = "NEW";
  controller = new AbortController();
  generation = 0;
  doneSignalled = false;
  error?: Error;
  backoff = new Backoff();
  /** Set by {@link Supervisor.retryNow}: the next restart of this DEAD node has no delay. */
  retryNow = false;
  restartPending?: () => void;
  detached = false;
  logger: LeveledLogger;

  constructor(
    readonly name: string,
    readonly dn: string,
    readonly parent: Node | undefined,
    readonly runnable: Runnable,
    tree: LogTree,
  ) {
    this.logger = tree.logger(dn);
  }

  get running(): boolean {
    return (this.state === "NEW" || this.state === "HEALTHY") && !this.controller.signal.aborted;
  }

  /** True when this node and every descendant have stopped. */
  subtreeStopped(): boolean {
    if (!STOPPED.has(this.state)) return false;
    for (const c of this.children.values()) if (!c.subtreeStopped()) return false;
    return true;
  }
}

interface Binding {
  node: Node;
  generation: number;
}

const bindings = new WeakMap<Context, Binding>();

/** `file:line` of the innermost frame of our code in `err`'s stack (where it was thrown), or "". */
export function errorLocation(err: Error): string {
  return stackLocation(err.stack);
}

function errorOf(e: unknown): Error {
  return e instanceof Error ? e : new Error(String(e));
}

/** A running supervision tree with one root runnable (DN `root`). Starts at construction. */
export class Supervisor {
  readonly #root: Node;
  readonly #timing: Timing;
  readonly #log: LeveledLogger;
  readonly #opts: SupervisorOptions;
  #processScheduled = false;
  #stopping = false;
  #stopWaiters: (() => void)[] = [];
  #changeWaiters: (() => void)[] = [];
  #rootHandled = false;

  constructor(readonly tree: LogTree, root: Runnable, opts: SupervisorOptions = {}) {
    this.#opts = opts;
    this.#timing = opts.timing ?? REAL_TIMING;
    this.#log = tree.logger(SUPERVISOR_DN);
    this.#root = new Node("root", "root", undefined, root, tree);
    this.#start(this.#root);
  }

  /** State of the node at `dn`, or undefined when there is none. */
  state(dn: string): NodeState | undefined {
    return this.#find(dn)?.state;
  }

  /** Every node's DN and state, parents before children. */
  states(): Record<string, NodeState> {
    const out: Record<string, NodeState> = {};
    const walk = (n: Node) => {
      out[n.dn] = n.state;
      for (const c of n.children.values()) walk(c);
    };
    walk(this.#root);
    return out;
  }

  /** Resolves at the next state change anywhere in the tree (for tests and status pages). */
  changed(): Promise<void> {
    return new Promise((r) => this.#changeWaiters.push(r));
  }

  /** Aborts the whole tree without rebooting; resolves once every node has stopped. */
  stop(): Promise<void> {
    this.#stopping = true;
    const p = new Promise<void>((r) => this.#stopWaiters.push(r));
    this.#abortSubtree(this.#root);
    this.#cancelRestarts(this.#root);
    this.#scheduleProcess();
    return p;
  }

  /** @internal Adds children to the node behind `ctx` (see {@link run}, {@link runGroup}). */
  addChildren(ctx: Context, runnables: Record<string, Runnable>, asGroup: boolean): void {
    const parent = this.#current(ctx, "run");
    if (parent.state !== "NEW") {
      throw new Error(
        `${parent.dn}: children can only be added before signalling Healthy (state ${parent.state})`,
      );
    }
    const names = Object.keys(runnables);
    if (names.length === 0) throw new Error(`${parent.dn}: runGroup needs at least one runnable`);
    for (const name of names) {
      const err = nameError(name);
      if (err) throw new Error(`${parent.dn}: ${err}`);
      if (parent.children.has(name)) {
        throw new Error(`${parent.dn}: a runnable named ${JSON.stringify(name)} already exists`);
      }
      if (parent.subLoggers.has(name)) {
        throw new Error(`${parent.dn}: name ${JSON.stringify(name)} is taken by a sub-logger`);
      }
      if (typeof runnables[name] !== "function") {
        throw new Error(`${parent.dn}: runnable ${JSON.stringify(name)} is not a function`);
      }
    }
    const group = asGroup && names.length > 1 ? new Set<Node>() : undefined;
    const added: Node[] = [];
    for (const name of names) {
      const n = new Node(name, `${parent.dn}.${name}`, parent, runnables[name], this.tree);
      n.group = group;
      group?.add(n);
      parent.children.set(name, n);
      added.push(n);
    }
    for (const n of added) this.#start(n);
  }

  /** @internal Implements {@link signal}. */
  signal(ctx: Context, kind: SignalKind): void {
    const n = this.#current(ctx, "signal");
    if (kind === "healthy") {
      if (n.state !== "NEW") throw new Error(`${n.dn}: signal Healthy from state ${n.state}`);
      n.state = "HEALTHY";
      n.backoff.reset();
      this.#changed();
    } else if (kind === "done") {
      if (n.state !== "HEALTHY") throw new Error(`${n.dn}: signal Done from state ${n.state}`);
      if (n.doneSignalled) throw new Error(`${n.dn}: signal Done twice`);
      n.doneSignalled = true;
    } else {
      throw new Error(`${n.dn}: unknown signal ${JSON.stringify(kind)}`);
    }
  }

  /** @internal Implements {@link retryNow}. */
  retryNow(ctx: Context, names: readonly string[]): void {
    const parent = this.#current(ctx, "retryNow");
    for (const name of names) {
      const c = parent.children.get(name);
      if (!c) throw new Error(`${parent.dn}: retryNow: no runnable named ${JSON.stringify(name)}`);
      if (c.state !== "DEAD") continue;
      c.backoff.reset();
      c.retryNow = true;
      c.restartPending?.();
      c.restartPending = undefined;
    }
    this.#scheduleProcess();
  }

  /** @internal Implements {@link subLogger}. */
  subLogger(ctx: Context, name: string): LeveledLogger {
    const n = this.#current(ctx, "subLogger");
    const err = nameError(name);
    if (err) throw new Error(`${n.dn}: sub-logger: ${err}`);
    if (n.children.has(name)) {
      throw new Error(`${n.dn}: sub-logger name ${JSON.stringify(name)} is taken by a runnable`);
    }
    if (n.subLoggers.has(name)) {
      throw new Error(`${n.dn}: sub-logger ${JSON.stringify(name)} already exists`);
    }
    n.subLoggers.add(name);
    return this.tree.logger(`${n.dn}.${name}`);
  }

  #current(ctx: Context, what: string): Node {
    const b = bindings.get(ctx);
    if (!b) throw new Error(`${what}: not a supervisor context`);
    if (b.node.detached || b.node.generation !== b.generation || STOPPED.has(b.node.state)) {
      throw new Error(`${what}: context of ${b.node.dn} is no longer current`);
    }
    return b.node;
  }

  #find(dn: string): Node | undefined {
    const parts = dn.split(".");
    if (parts[0] !== "root") return undefined;
    let n: Node | undefined = this.#root;
    for (const p of parts.slice(1)) n = n?.children.get(p);
    return n;
  }

  #start(n: Node) {
    n.controller = new AbortController();
    if (n.parent && n.parent.controller.signal.aborted) n.controller.abort();
    if (this.#stopping) n.controller.abort();
    n.generation++;
    n.state = "NEW";
    n.doneSignalled = false;
    n.error = undefined;
    const ctx: Context = {
      signal: n.controller.signal,
      logger: n.logger,
      dn: n.dn,
      supervisor: this,
    };
    bindings.set(ctx, { node: n, generation: n.generation });
    const gen = n.generation;
    // Promise.resolve().then(...) turns a synchronous throw into a rejection as well.
    Promise.resolve()
      .then(() => n.runnable(ctx))
      .then(
        () => this.#settle(n, gen, undefined),
        (e) => this.#settle(n, gen, errorOf(e)),
      );
    this.#changed();
  }

  #settle(n: Node, gen: number, err: Error | undefined) {
    if (n.generation !== gen || n.detached) return;
    if (n.controller.signal.aborted) {
      n.state = "CANCELED";
    } else if (err) {
      this.#fail(n, err);
    } else if (n.doneSignalled) {
      n.state = "DONE";
    } else {
      this.#fail(n, new Error("runnable returned without signalling Done"));
    }
    if (n === this.#root) this.#rootStopped(n);
    this.#changed();
  }

  #fail(n: Node, err: Error) {
    n.state = "DEAD";
    n.error = err;
    this.tree.logLeveled(n.dn, "FATAL", `runnable failed: ${err.stack ?? err.message}`, {
      location: errorLocation(err),
    });
    this.#abortSubtree(n);
    if (n.group) { for (const s of n.group) if (s !== n) this.#abortSubtree(s); }
  }

  #abortSubtree(n: Node) {
    n.controller.abort();
    for (const c of n.children.values()) this.#abortSubtree(c);
  }

  #cancelRestarts(n: Node) {
    n.restartPending?.();
    n.restartPending = undefined;
    for (const c of n.children.values()) this.#cancelRestarts(c);
  }

  #detach(n: Node) {
    n.detached = true;
    n.restartPending?.();
    n.restartPending = undefined;
    for (const c of n.children.values()) this.#detach(c);
  }

  #rootStopped(root: Node) {
    if (this.#stopping || this.#rootHandled) return;
    this.#rootHandled = true;
    const err = root.state === "DEAD"
      ? root.error!
      : new Error(`root runnable stopped in state ${root.state}`);
    const delay = this.#opts.rootExitDelayMs ?? 7000;
    this.#log.fatal(
      `root runnable exited: ${err.message}; calling root-exit hook in ${delay / 1000}s`,
    );
    this.#abortSubtree(root);
    const hook = this.#opts.onRootExit ?? (() => Deno.exit(1));
    this.#timing.schedule(delay, () => hook(err));
  }

  #changed() {
    const w = this.#changeWaiters;
    this.#changeWaiters = [];
    for (const r of w) r();
    this.#scheduleProcess();
  }

  #scheduleProcess() {
    if (this.#processScheduled) return;
    this.#processScheduled = true;
    // Coalesce bursts of changes: the tree is processed at most every 1 ms.
    setTimeout(() => {
      this.#processScheduled = false;
      this.#process();
    }, 1);
  }

  #process() {
    if (this.#stopping) {
      if (this.#root.subtreeStopped()) {
        const w = this.#stopWaiters;
        this.#stopWaiters = [];
        for (const r of w) r();
      }
      return;
    }
    const walk = (parent: Node) => {
      for (const c of parent.children.values()) {
        if (c.running) walk(c);
        else if (
          (c.state === "DEAD" || c.state === "CANCELED") && !c.restartPending &&
          parent.running && c.subtreeStopped()
        ) this.#scheduleRestart(c);
      }
    };
    if (this.#root.running) walk(this.#root);
  }

  #scheduleRestart(n: Node) {
    let delay = 0;
    if (n.state === "DEAD" && n.retryNow) {
      this.#log.info(`${n.dn} failed (${n.error?.message}); restarting now, as its parent asked`);
    } else if (n.state === "DEAD") {
      delay = n.backoff.next(this.#timing.random);
      this.#log.info(
        `${n.dn} failed (${n.error?.message}); restarting in ${(delay / 1000).toFixed(3)}s`,
      );
    }
    n.retryNow = false;
    n.restartPending = this.#timing.schedule(delay, () => {
      n.restartPending = undefined;
      if (n.detached || this.#stopping) return;
      if (!n.parent?.running || !n.subtreeStopped()) {
        this.#scheduleProcess();
        return;
      }
      // Restarting discards the node's children; the runnable re-creates them.
      for (const c of n.children.values()) this.#detach(c);
      n.children.clear();
      n.subLoggers.clear();
      this.#start(n);
    });
  }
}

function sup(ctx: Context): Supervisor {
  if (!ctx || !(ctx.supervisor instanceof Supervisor)) throw new Error("not a supervisor context");
  return ctx.supervisor;
}

/** Starts `runnable` as child `name` of the runnable behind `ctx` (only while it is NEW). */
export function run(ctx: Context, name: string, runnable: Runnable): void {
  sup(ctx).addChildren(ctx, { [name]: runnable }, false);
}

/**
 * Starts several children as one group: when one member fails, every other member is aborted
 * too (only while the parent is NEW).
 */
export function runGroup(ctx: Context, runnables: Record<string, Runnable>): void {
  sup(ctx).addChildren(ctx, runnables, true);
}

/**
 * Restarts at once those of the named children of the runnable behind `ctx` that failed (DEAD,
 * waiting out their backoff), their backoff reset as by a Healthy signal; the others are left as
 * they are. For a parent that knows the cause of their failures went away — the upstream they
 * lost was replaced (a new curator leader) — so that a delay earned against the old one does not
 * hold them back from the new one.
 */
export function retryNow(ctx: Context, names: readonly string[]): void {
  sup(ctx).retryNow(ctx, names);
}

/** Signals Healthy (only from NEW; resets the restart backoff) or Done (only once, from HEALTHY). */
export function signal(ctx: Context, kind: SignalKind): void {
  sup(ctx).signal(ctx, kind);
}

/** A logger for `<DN>.<name>`; reserves `name` among the runnable's children. */
export function subLogger(ctx: Context, name: string): LeveledLogger {
  return sup(ctx).subLogger(ctx, name);
}

/** Resolves when `ctx` is aborted (at once if it already is); never rejects. */
export function untilAborted(ctx: Context): Promise<void> {
  return new Promise((resolve) => {
    if (ctx.signal.aborted) return resolve();
    ctx.signal.addEventListener("abort", () => resolve(), { once: true });
  });
}

/** The leveled logger of the runnable behind `ctx`. */
export function logger(ctx: Context): LeveledLogger {
  return ctx.logger;
}
