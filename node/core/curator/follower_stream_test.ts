import assert from "node:assert/strict";
import { type FollowedState, streamFollowedLeader } from "./follower_stream.ts";
import { StatusError } from "./status.ts";

/** The curator's state as the server keeps it: a new object per change, waiters woken. */
class States {
  #s: FollowedState;
  #waiters = new Set<() => void>();
  constructor(s: FollowedState) {
    this.#s = s;
  }
  get = () => this.#s;
  set(s: FollowedState) {
    this.#s = s;
    for (const w of [...this.#waiters]) w();
  }
  next = (signal: AbortSignal) =>
    new Promise<void>((resolve) => {
      const done = () => {
        this.#waiters.delete(done);
        resolve();
      };
      this.#waiters.add(done);
      signal.addEventListener("abort", done, { once: true });
    });
}

const follower = (leaderId: string): FollowedState => ({
  kind: "follower",
  leaderId,
  leaderPort: 7835,
});
const tick = () => new Promise((r) => setTimeout(r, 0));

Deno.test("follower stream: a leader change while the address is read is sent, not missed", async () => {
  const states = new States(follower("a"));
  const lookups: string[] = [];
  const gate = Promise.withResolvers<void>();
  const sent: string[] = [];
  const ac = new AbortController();
  const done = streamFollowedLeader({
    state: states.get,
    nextChange: states.next,
    address: async (id) => {
      lookups.push(id);
      if (id === "a") await gate.promise;
      return `10.0.0.${id === "a" ? 2 : 3}`;
    },
    write: (id, host, port) => sent.push(`${id}@${host}:${port}`),
    signal: ac.signal,
  });
  await tick();
  states.set(follower("b")); // while a's address is being read
  gate.resolve();
  for (let i = 0; i < 10 && sent.length === 0; i++) await tick();
  assert.deepEqual(sent, ["b@10.0.0.3:7835"], "the new leader, not the stale one");
  assert.deepEqual(lookups, ["a", "b"]);
  ac.abort();
  await done;
});

Deno.test("follower stream: one answer per leader change, UNAVAILABLE when no longer following", async () => {
  const states = new States(follower("a"));
  const sent: string[] = [];
  const done = streamFollowedLeader({
    state: states.get,
    nextChange: states.next,
    address: (id) => Promise.resolve(`host-${id}`),
    write: (id) => sent.push(id),
    signal: new AbortController().signal,
  });
  await tick();
  states.set(follower("a")); // same leader, new state object: nothing to send
  await tick();
  states.set(follower("b"));
  await tick();
  assert.deepEqual(sent, ["a", "b"]);
  states.set({ kind: "leader" });
  await assert.rejects(
    done,
    (e) => e instanceof StatusError && /stopped following/.test(e.message),
  );
});

Deno.test("follower stream: a leader without a known address ends the stream UNAVAILABLE", async () => {
  const states = new States(follower("a"));
  await assert.rejects(
    streamFollowedLeader({
      state: states.get,
      nextChange: states.next,
      address: () => Promise.resolve(undefined),
      write: () => assert.fail("nothing to send"),
      signal: new AbortController().signal,
    }),
    /address of curator leader a unknown/,
  );
});
