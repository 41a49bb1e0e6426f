/**
 * Observable values shared between runnables (roles, network status, …): `set`/`get`/`watch`.
 * A watcher first sees the current value (if one is set), then every later `set`, in order.
 */

/** A watch on a {@link Value}: call `next()` or iterate; `close()` (or the signal) ends it. */
export interface Watcher<T> extends AsyncIterable<T> {
  /** The next value, waiting if none is pending; throws once the watcher is closed/aborted. */
  next(): Promise<T>;
  /** Ends the watch; a pending `next()` rejects with "watcher closed". */
  close(): void;
  /** True once closed or aborted. */
  readonly closed: boolean;
}

/** Options of {@link Value.watch}. */
export interface WatchOptions {
  /** Aborting ends the watch like `close()`. */
  signal?: AbortSignal;
}

class ValueWatcher<T> implements Watcher<T> {
  #queue: T[] = [];
  #closed = false;
  #waiter?: { resolve: (v: T) => void; reject: (e: Error) => void };
  #onAbort = () => this.close();

  constructor(
    private readonly remove: (w: ValueWatcher<T>) => void,
    readonly signal?: AbortSignal,
  ) {
    if (signal?.aborted) this.#closed = true;
    else signal?.addEventListener("abort", this.#onAbort, { once: true });
  }

  get closed(): boolean {
    return this.#closed;
  }

  push(v: T) {
    if (this.#closed) return;
    if (this.#waiter) {
      const w = this.#waiter;
      this.#waiter = undefined;
      w.resolve(v);
    } else {
      // Every change is delivered, so a slow watcher accumulates a queue (values are small).
      this.#queue.push(v);
    }
  }

  next(): Promise<T> {
    if (this.#queue.length > 0) return Promise.resolve(this.#queue.shift() as T);
    if (this.#closed) return Promise.reject(new Error("watcher closed"));
    if (this.#waiter) return Promise.reject(new Error("watcher: concurrent next() calls"));
    return new Promise<T>((resolve, reject) => this.#waiter = { resolve, reject });
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#queue = [];
    this.signal?.removeEventListener("abort", this.#onAbort);
    this.remove(this);
    const w = this.#waiter;
    this.#waiter = undefined;
    w?.reject(new Error("watcher closed"));
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    try {
      while (!this.#closed || this.#queue.length > 0) {
        let v: T;
        try {
          v = await this.next();
        } catch (e) {
          if (this.#closed) return;
          throw e;
        }
        yield v;
      }
    } finally {
      this.close();
    }
  }
}

/** A typed observable value. Unset until the first `set`. */
export class Value<T> {
  #value: T | undefined;
  #isSet = false;
  #watchers = new Set<ValueWatcher<T>>();

  /** Creates an unset value, or one holding `initial` when given. */
  constructor(...initial: [] | [T]) {
    if (initial.length === 1) this.set(initial[0]);
  }

  /** Sets the value and hands it to every watcher. */
  set(v: T): void {
    this.#value = v;
    this.#isSet = true;
    for (const w of this.#watchers) w.push(v);
  }

  /** The current value, or undefined while unset. */
  get(): T | undefined {
    return this.#value;
  }

  /** True once a value has been set. */
  get isSet(): boolean {
    return this.#isSet;
  }

  /** Number of open watchers. */
  get watcherCount(): number {
    return this.#watchers.size;
  }

  /** Starts a watch: the current value first (if set), then every change. */
  watch(opts: WatchOptions = {}): Watcher<T> {
    const w = new ValueWatcher<T>((x) => this.#watchers.delete(x), opts.signal);
    if (w.closed) return w;
    this.#watchers.add(w);
    if (this.#isSet) w.push(this.#value as T);
    return w;
  }

  /**
   * Waits until the value satisfies `pred` (checking the current value first) and returns it.
   * Rejects with the signal's reason when aborted.
   */
  async waitFor(pred: (v: T) => boolean, signal?: AbortSignal): Promise<T> {
    const w = this.watch({ signal });
    try {
      for (;;) {
        let v: T;
        try {
          v = await w.next();
        } catch (e) {
          if (signal?.aborted) throw signal.reason ?? new Error("aborted");
          throw e;
        }
        if (pred(v)) return v;
      }
    } finally {
      w.close();
    }
  }
}
