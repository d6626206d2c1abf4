// One seed, start to end: draw a network, disks, frontends, clients and a fault schedule from the
// seed, run the faulty phase, heal everything, let the clients finish, place one more order, and
// check that every log converged on the catalog's sequence. The same seed always runs the same
// events, so a failing seed replays exactly (with `tracing` for the last events before it failed).

import { OrderSide } from "../gen/order.ts";
import type { StockState } from "../catalog/trade.ts";
import { SimSystem } from "./sim_system.ts";
import type { OrderSpec, Outcome } from "./sim_system.ts";
import { Rng } from "./world.ts";
import type { NetProfile } from "./world.ts";

/** Bounds of one seed's run, in simulated ms unless named otherwise. */
export const scenarioLimits = {
  /** Faults start within this, and every fault has ended (restarted, resumed) by healAtMs. */
  faultPhaseMs: 3_000,
  faultDurationMsMax: 2_500,
  /** After healing the clients must finish within this; past it the run fails as unavailable. */
  finishWithinMs: 30_000,
  /** Quiet time after the clients and after the last order, for replication to converge. */
  settleMs: 2_000,
  /** A run that takes more events than this has a livelock (a storm of messages): it fails. */
  stepsMax: 2_000_000,
};

const healAtMs = scenarioLimits.faultPhaseMs + scenarioLimits.faultDurationMsMax;

const calm: NetProfile = { delayMs: [0.05, 0.4], spikeP: 0, spikeMs: [0, 0], dropP: 0, duplicateP: 0 };
const profiles: readonly NetProfile[] = [
  calm,
  { delayMs: [0.05, 1], spikeP: 0.02, spikeMs: [5, 80], dropP: 0, duplicateP: 0.01 },
  { delayMs: [0.05, 2], spikeP: 0.02, spikeMs: [20, 600], dropP: 0.02, duplicateP: 0.02 },
  { delayMs: [0.1, 5], spikeP: 0.05, spikeMs: [50, 1_200], dropP: 0.05, duplicateP: 0.05 },
];

const stockNames = ["GameStart", "FishCo", "BoarCo"];

export type SeedResult = {
  readonly seed: number;
  readonly violation: string | undefined;
  readonly trace: readonly string[];
  readonly stats: { acked: number; refused: number; unknown: number; faults: number; steps: number; elections: number; leaders: number };
};

/**
 * A deliberate bug to run the seeds against, to show the checks catch it (sim.test.ts):
 * "catalog-ignores-position" makes the catalog apply a batch even when the leader's log is
 * behind its sequence.
 */
export type Mutation = "catalog-ignores-position";

export function runSeed(seed: number, tracing = false, mutation?: Mutation): SeedResult {
  const traceLines: string[] = [];
  try {
    return runSeedUnguarded(seed, tracing, traceLines, mutation);
  } catch (err) {
    // An assertion failed inside the core or the model: a bug, reported like a violation.
    const message = err instanceof Error ? err.stack ?? err.message : String(err);
    const stats = { acked: 0, refused: 0, unknown: 0, faults: 0, steps: 0, elections: 0, leaders: 0 };
    return { seed, violation: `threw: ${message}`, trace: traceLines, stats };
  }
}

function runSeedUnguarded(seed: number, tracing: boolean, traceLines: string[], mutation: Mutation | undefined): SeedResult {
  // Draw the scenario from a generator of its own, so the world's draws do not shift it.
  const pick = new Rng(seed ^ 0x5bd1e995);
  const initial = new Map<string, StockState>(
    stockNames.map((name, i) => [name, { price: 10 + i, quantity: 10 + pick.int(30), volume: 0, version: 0 }]),
  );
  const net = pick.pick(profiles);
  const frontends = 1 + pick.int(3);
  const fsyncMs: readonly [number, number] = pick.chance(0.2) ? [5, 40] : [0.1, 2];
  const world = new SimSystem(
    { seed, tracing, net, frontends, fsyncMs, ignorePosition: mutation === "catalog-ignores-position" },
    initial,
    traceLines,
  );
  const rng = world.rng;
  const { sched, checker } = world;

  const stats = { acked: 0, refused: 0, unknown: 0, faults: 0, steps: 0, elections: 0, leaders: 0 };
  const faultCount = pick.int(8);
  for (let i = 0; i < faultCount; i++) scheduleFault(world, pick.range(20, scenarioLimits.faultPhaseMs), pick.int(100));
  stats.faults = faultCount;
  sched.at(healAtMs, () => {
    world.net.profile = calm;
    for (const r of world.replicas.values()) {
      r.crashOnWriteMs = 0;
      r.failNextWrite = false;
    }
    world.trace("heal: every process up, the network calm");
  });

  // Clients: each places its orders one after another through its frontend.
  const clients = 1 + pick.int(4);
  let running = clients;
  let lastOrderId = 0;
  const newOrder = (): OrderSpec => ({
    requestId: `r${++lastOrderId}`,
    name: rng.pick(stockNames),
    quantity: 1 + rng.int(6),
    side: rng.chance(0.5) ? OrderSide.ORDER_SIDE_BUY : OrderSide.ORDER_SIDE_SELL,
  });
  for (let c = 0; c < clients; c++) {
    let left = 4 + pick.int(10);
    const frontend = world.frontends[c % frontends];
    const next = (order: OrderSpec): void => {
      const startedAt = sched.now;
      const f = frontend ?? world.frontends[0];
      if (!f) return;
      const done = (o: Outcome): void => {
        if (o.kind === "ok") {
          stats.acked++;
          world.acknowledged(order.requestId, order, o.number);
          if (rng.chance(0.3)) checkRead(world, f, order, o.number);
        } else if (o.kind === "refused") stats.refused++;
        else {
          stats.unknown++;
          if (startedAt >= healAtMs) checker.fail(`an order placed after healing failed: ${o.why}`);
        }
        // A client whose order's outcome is unknown may retry it with the same idempotency key.
        const again = o.kind === "unknown" && rng.chance(0.5);
        if (!again) left--;
        if (left <= 0 && !again) {
          running--;
          return;
        }
        sched.after(rng.range(0, 5), () => next(again ? order : newOrder()));
      };
      if (!f.proc.up) sched.after(1, () => done({ kind: "unknown", why: "frontend down" }));
      else f.place(order, done);
    };
    sched.after(pick.range(0, 20), () => next(newOrder()));
  }

  const finishBy = healAtMs + scenarioLimits.finishWithinMs;
  let ok = sched.runUntil(healAtMs, scenarioLimits.stepsMax);
  while (ok && running > 0 && sched.now < finishBy && !checker.violation) ok = sched.runUntil(sched.now + 100, scenarioLimits.stepsMax);
  if (!ok) checker.fail(`more than ${scenarioLimits.stepsMax} events: a livelock`);
  else if (running > 0) checker.fail(`clients still waiting ${scenarioLimits.finishWithinMs} ms after healing`);

  // One more order once everything is healed and quiet: it must succeed (availability), and it
  // makes the leader re-sync with the catalog, so the logs can converge on its sequence.
  if (!checker.violation) {
    sched.runUntil(sched.now + scenarioLimits.settleMs, scenarioLimits.stepsMax);
    const probe: OrderSpec = { requestId: "final", name: "GameStart", side: OrderSide.ORDER_SIDE_SELL, quantity: 1 };
    let probed: Outcome | undefined;
    (world.frontends[0] as NonNullable<(typeof world.frontends)[0]>).place(probe, (o) => {
      probed = o;
    });
    while (!probed && !checker.violation && sched.runUntil(sched.now + 100, scenarioLimits.stepsMax) && sched.now < finishBy + 15_000);
    if (probed?.kind === "ok") world.acknowledged(probe.requestId, probe, probed.number);
    else if (!checker.violation) {
      checker.fail(`the order after healing did not succeed: ${probed?.kind === "unknown" ? probed.why : probed?.kind ?? "no answer"}`);
    }
    sched.runUntil(sched.now + scenarioLimits.settleMs, scenarioLimits.stepsMax);
    if (!checker.violation) world.checkConverged();
  }
  stats.steps = sched.steps;
  stats.elections = world.frontends.reduce((n, f) => n + f.elections, 0);
  stats.leaders = checker.leaders.size;
  const v = checker.violation;
  return { seed, violation: v ? `at ${v.at.toFixed(3)} ms: ${v.message}` : undefined, trace: traceLines, stats };
}

/** GET /orders/{n} right after the acknowledgement: the same order, or a retryable failure; never 404. */
function checkRead(
  world: SimSystem,
  f: { get(n: number, done: (o: import("../gen/order.ts").OrderRecord | undefined | "unknown") => void): void },
  order: OrderSpec,
  number: number,
): void {
  f.get(number, (o) => {
    if (o === "unknown") return;
    if (o === undefined) {
      return world.checker.fail(`read-your-writes: order ${number} (${order.requestId}) answered 404 after it was acknowledged`);
    }
    if (o.requestId !== order.requestId) {
      world.checker.fail(`read-your-writes: order ${number} is ${o.requestId}, acknowledged for ${order.requestId}`);
    }
  });
}

/** One fault at `at`, of a kind drawn from `roll` (0..99); every fault ends by the heal time. */
function scheduleFault(world: SimSystem, at: number, roll: number): void {
  const { rng, sched } = world;
  const duration = (): number => rng.range(100, scenarioLimits.faultDurationMsMax);
  const replicas = [...world.replicas.values()];
  const crashReplicas = (n: number): void => {
    const victims = [...replicas].sort(() => rng.next() - 0.5).slice(0, n);
    for (const r of victims) {
      if (!r.proc.up) continue;
      r.crash();
      sched.after(duration(), () => {
        if (!r.proc.up) r.restart();
      });
    }
  };
  sched.at(at, () => {
    if (roll < 20) crashReplicas(1);
    else if (roll < 30) {
      // A crash timed to land on a write in flight (a vote, a log append): torn and lost writes.
      const r = rng.pick(replicas);
      world.trace(`${r.proc.name} will crash at its next write`);
      r.crashOnWriteMs = duration();
    } else if (roll < 40) crashReplicas(2);
    else if (roll < 44) crashReplicas(3);
    else if (roll < 60) {
      // A stall longer than every timeout, sometimes: SIGSTOP, then SIGCONT.
      const r = rng.pick(replicas);
      world.trace(`${r.proc.name} paused`);
      r.proc.pause(sched, duration());
    } else if (roll < 66) {
      for (const r of [...replicas].sort(() => rng.next() - 0.5).slice(0, 2)) r.proc.pause(sched, duration());
    } else if (roll < 74) {
      if (!world.catalog.proc.up) return;
      world.catalog.crash();
      sched.after(duration(), () => {
        if (!world.catalog.proc.up) world.catalog.restart();
      });
    } else if (roll < 80) {
      world.trace("catalog paused");
      world.catalog.proc.pause(sched, duration());
    } else if (roll < 88) {
      const f = rng.pick(world.frontends);
      if (!f.proc.up) return;
      world.trace(`${f.proc.name} crash`);
      f.crash();
      sched.after(duration(), () => {
        if (!f.proc.up) f.restart();
      });
    } else if (roll < 92) {
      rng.pick(world.frontends).proc.pause(sched, duration());
    } else {
      // A write or fsync fails: the replica stops acknowledging; its supervisor restarts it.
      const r = rng.pick(replicas);
      if (!r.proc.up) return;
      world.trace(`${r.proc.name}: the next write fails`);
      r.failNextWrite = true;
      sched.after(duration(), () => {
        if (r.proc.up) r.crash();
        r.restart();
      });
    }
  });
}
