// The simulated world one seed runs in: a clock and an event queue, a seeded random source,
// processes that can be crashed, paused and restarted, and a network that delays, reorders,
// duplicates and drops messages. Nothing here knows the protocol; sim/sim_system.ts puts the real
// protocol core (order/core.ts) and the catalog's real sequencing rules into it.

import { assert } from "../lib/assert.ts";

/** A small, fast, seeded generator (mulberry32): the whole run is a function of the seed. */
export class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  /** Uniform in [lo, hi). */
  range(lo: number, hi: number): number {
    return lo + this.next() * (hi - lo);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    assert(items.length > 0, "pick from a non-empty list");
    return items[this.int(items.length)] as T;
  }
}

type Event = { at: number; seq: number; run: () => void };

/** A binary min-heap of events by time, then by insertion (so equal times run in a fixed order). */
export class Scheduler {
  now = 0;
  private heap: Event[] = [];
  private seq = 0;
  /** Events run so far (the budget guard and the report read it). */
  steps = 0;

  at(time: number, run: () => void): void {
    const e = { at: Math.max(time, this.now), seq: this.seq++, run };
    const h = this.heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(e, h[parent] as Event)) break;
      h[i] = h[parent] as Event;
      i = parent;
    }
    h[i] = e;
  }

  after(delay: number, run: () => void): void {
    this.at(this.now + delay, run);
  }

  /** Run events up to and including `time`; false when the step budget ran out. */
  runUntil(time: number, stepsMax: number): boolean {
    const h = this.heap;
    while (h.length > 0 && (h[0] as Event).at <= time) {
      if (this.steps >= stepsMax) return false;
      const e = this.pop();
      this.now = e.at;
      this.steps++;
      e.run();
    }
    this.now = Math.max(this.now, time);
    return true;
  }

  private pop(): Event {
    const h = this.heap;
    const top = h[0] as Event;
    const last = h.pop() as Event;
    if (h.length > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= h.length) break;
        const r = l + 1;
        const c = r < h.length && before(h[r] as Event, h[l] as Event) ? r : l;
        if (!before(h[c] as Event, last)) break;
        h[i] = h[c] as Event;
        i = c;
      }
      h[i] = last;
    }
    return top;
  }
}

function before(a: Event, b: Event): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

/**
 * One simulated process. A crash ends its incarnation: anything addressed to an older
 * incarnation is dropped. A pause (SIGSTOP) holds everything addressed to it until it resumes,
 * in order; its clock and timers stop too.
 */
export class Proc {
  readonly name: string;
  up = true;
  incarnation = 0;
  pausedUntil = 0;
  private held: (() => void)[] = [];

  constructor(name: string) {
    this.name = name;
  }

  paused(now: number): boolean {
    return now < this.pausedUntil;
  }

  /** Run `fn` in this process now (if it is up and the incarnation is still `inc`), or at resume. */
  deliver(sched: Scheduler, inc: number, fn: () => void): void {
    if (!this.up || inc !== this.incarnation) return;
    if (this.paused(sched.now)) {
      this.held.push(fn);
      return;
    }
    fn();
  }

  pause(sched: Scheduler, ms: number): void {
    if (!this.up) return;
    const until = Math.max(this.pausedUntil, sched.now + ms);
    this.pausedUntil = until;
    const inc = this.incarnation;
    sched.at(until, () => {
      if (inc !== this.incarnation || sched.now < this.pausedUntil) return;
      const held = this.held;
      this.held = [];
      for (const fn of held) fn();
    });
  }

  crash(): void {
    this.up = false;
    this.incarnation++;
    this.pausedUntil = 0;
    this.held = [];
  }

  start(): void {
    assert(!this.up, "only a stopped process starts");
    this.up = true;
    this.incarnation++;
  }
}

/** How the network treats one message; the cluster draws these from its profile. */
export type NetProfile = {
  readonly delayMs: readonly [number, number];
  /** Probability of a long delay (a stalled connection, a full socket buffer). */
  readonly spikeP: number;
  readonly spikeMs: readonly [number, number];
  readonly dropP: number;
  readonly duplicateP: number;
};

export class Network {
  private readonly sched: Scheduler;
  private readonly rng: Rng;
  profile: NetProfile;
  /** Messages sent, dropped and duplicated so far, for the report. */
  sent = 0;
  dropped = 0;
  duplicated = 0;

  constructor(sched: Scheduler, rng: Rng, profile: NetProfile) {
    this.sched = sched;
    this.rng = rng;
    this.profile = profile;
  }

  /**
   * Deliver `fn` to `to` after a drawn delay, maybe twice, maybe never. `onRefused` runs at the
   * sender when the target is down at delivery (a connection refused is reported quickly).
   */
  send(to: Proc, fn: () => void, onRefused?: () => void): void {
    this.sent++;
    const p = this.profile;
    if (this.rng.chance(p.dropP)) {
      this.dropped++;
      return;
    }
    const copies = this.rng.chance(p.duplicateP) ? 2 : 1;
    if (copies === 2) this.duplicated++;
    const inc = to.incarnation;
    for (let i = 0; i < copies; i++) {
      const delay = this.rng.chance(p.spikeP) ? this.rng.range(p.spikeMs[0], p.spikeMs[1]) : this.rng.range(p.delayMs[0], p.delayMs[1]);
      this.sched.after(delay, () => {
        if (to.up && to.incarnation === inc) to.deliver(this.sched, inc, fn);
        else if (onRefused && i === 0) onRefused();
      });
    }
  }
}
