// The fault schedule of the chaos command: one fault at a time, a seeded gap before each, held
// for a seeded time, then healed (SIGCONT, or a restart on the same port and DATA_DIR). A killed
// replica may get a torn partial line appended to its log before its restart, as if it had died
// mid-write. Every random draw of a fault is made before looking at the system, so one seed
// gives one sequence of kinds, gaps and holds; which replica "the leader" is depends on timing.

import { StockBazaarClient } from "../../client/stock_bazaar_client.ts";
import * as fs from "node:fs";
import { assert } from "../../lib/assert.ts";
import type { ChaosSystem, FrontendRole, Role } from "./chaos_system.ts";
import { frontendRoles, replicaIds } from "./chaos_system.ts";
import type { Violation } from "./chaos_clients.ts";
import { sleep } from "../../lib/sleep.ts";

export const faultKinds = [
  "kill-leader",
  "kill-follower",
  "kill-two",
  "stop-leader",
  "stop-follower",
  "stop-two",
  "stop-catalog",
  "stop-frontend",
  "kill-catalog",
  "kill-frontend",
] as const;
export type FaultKind = (typeof faultKinds)[number];

/** Time between the end of one fault and the start of the next. */
export const faultGapMsMin = 500;
export const faultGapMsMax = 3_000;
/** How long a process stays dead or paused. */
export const faultHoldMsMin = 200;
export const faultHoldMsMax = 2_000;
/** Chance that a killed replica's log gets a torn last line before it restarts. */
export const tornWriteProbability = 0.3;
/** A frontend's /health asked for the leader: short, so a slow frontend does not stall the schedule. */
const leaderQueryTimeoutMs = 1_000;

export type FaultRecord = {
  /** Since the start of the load phase. */
  readonly atMs: number;
  readonly kind: FaultKind;
  readonly targets: readonly Role[];
  readonly holdMs: number;
  /** Replicas whose log got a torn partial line before restarting. */
  readonly torn: readonly number[];
  /** How the leader was found ("frontend-a", "grpc", "guess"), for leader faults. */
  readonly leaderFrom?: string;
};

/** Every random number one fault needs, drawn up front. */
type Draw = { gapMs: number; kind: FaultKind; holdMs: number; pick: number; pickOther: number; torn: [boolean, boolean]; tornCut: number };

/** The gap between faults; a smoke test may ask for a denser schedule than the default. */
export type FaultGap = { readonly minMs: number; readonly maxMs: number };
export const faultGapDefault: FaultGap = { minMs: faultGapMsMin, maxMs: faultGapMsMax };

function draw(random: () => number, gap: FaultGap): Draw {
  const between = (min: number, max: number): number => Math.round(min + random() * (max - min));
  return {
    gapMs: between(gap.minMs, gap.maxMs),
    kind: faultKinds[Math.floor(random() * faultKinds.length)] as FaultKind,
    holdMs: between(faultHoldMsMin, faultHoldMsMax),
    pick: random(),
    pickOther: random(),
    torn: [random() < tornWriteProbability, random() < tornWriteProbability],
    tornCut: random(),
  };
}

const replicaRole = (id: number): Role => `order-${id}` as Role;
const nth = <T>(items: readonly T[], r: number): T => items[Math.floor(r * items.length)] as T;

/** The leader as a frontend's /health names it, else as the replicas' Health say, else a guess. */
export async function findLeader(system: ChaosSystem, guess: number): Promise<{ id: number; from: string }> {
  for (const role of frontendRoles) {
    const client = new StockBazaarClient({ baseUrl: system.url(role), deadlineMs: leaderQueryTimeoutMs, connectionsMax: 1 });
    try {
      // /health names the leader whether it answers 200 or 503.
      const leader = (await client.health()).data.leader;
      if (typeof leader === "number") return { id: leader, from: role };
    } catch {
      /* down or paused: ask the next one */
    } finally {
      client.close();
    }
  }
  const healths = await Promise.all(replicaIds.map((id) => system.replicaHealth(id)));
  const leaders = healths.filter((h) => h?.role === "leader").sort((a, b) => (b?.epoch ?? 0) - (a?.epoch ?? 0));
  if (leaders[0]) return { id: leaders[0].id, from: "grpc" };
  return { id: guess, from: "guess" };
}

async function targetsOf(system: ChaosSystem, d: Draw): Promise<{ targets: Role[]; leaderFrom?: string }> {
  switch (d.kind) {
    case "kill-leader":
    case "stop-leader": {
      const leader = await findLeader(system, nth(replicaIds, d.pick));
      return { targets: [replicaRole(leader.id)], leaderFrom: leader.from };
    }
    case "kill-follower":
    case "stop-follower": {
      const leader = await findLeader(system, nth(replicaIds, d.pick));
      return { targets: [replicaRole(nth(replicaIds.filter((id) => id !== leader.id), d.pickOther))], leaderFrom: leader.from };
    }
    case "kill-two":
    case "stop-two": {
      const spared = nth(replicaIds, d.pick);
      return { targets: replicaIds.filter((id) => id !== spared).map(replicaRole) };
    }
    case "stop-catalog":
    case "kill-catalog":
      return { targets: ["catalog"] };
    case "stop-frontend":
    case "kill-frontend":
      return { targets: [nth<FrontendRole>(frontendRoles, d.pick)] };
  }
}

/** Append the start of a plausible order row with no newline, as a write cut short by a crash. */
export function appendTornLine(file: string, cut: number): void {
  const row = "987654,99,GameStart,buy,3,k-torn-write-simulated-by-chaos";
  fs.appendFileSync(file, row.slice(0, 1 + Math.floor(cut * (row.length - 1))));
}

/**
 * Inject faults until `endMs` (a fault started before it is still healed after it). A restart
 * that fails is a violation and ends the schedule (the final heal tries once more).
 */
export async function runFaults(
  system: ChaosSystem,
  random: () => number,
  gap: FaultGap,
  startMs: number,
  endMs: number,
  out: FaultRecord[],
  violations: Violation[],
): Promise<void> {
  assert(0 <= gap.minMs && gap.minMs <= gap.maxMs, "the fault gap is a range");
  for (;;) {
    const d = draw(random, gap);
    await sleep(Math.max(0, Math.min(d.gapMs, endMs - Date.now())));
    if (Date.now() >= endMs) return;
    const atMs = Date.now() - startMs;
    const { targets, leaderFrom } = await targetsOf(system, d);
    const torn: number[] = [];
    if (d.kind.startsWith("stop-")) {
      for (const role of targets) system.pause(role);
      await sleep(d.holdMs);
      for (const role of targets) system.resume(role);
    } else {
      await Promise.all(targets.map((role) => system.kill(role)));
      await sleep(d.holdMs);
      targets.forEach((role, i) => {
        if (!role.startsWith("order-") || !d.torn[i]) return;
        const id = Number(role.slice("order-".length));
        appendTornLine(system.cluster.orderFile(id), d.tornCut);
        torn.push(id);
      });
      const restarts = await Promise.allSettled(targets.map((role) => system.restart(role)));
      const failed = restarts.flatMap((r, i) => r.status === "rejected" ? [`${targets[i]}: ${String(r.reason)}`] : []);
      if (failed.length > 0) {
        out.push({ atMs, kind: d.kind, targets, holdMs: d.holdMs, torn, ...(leaderFrom ? { leaderFrom } : {}) });
        violations.push({ kind: "restart-failed", detail: `after ${d.kind}: ${failed.join("; ")}` });
        return;
      }
    }
    out.push({ atMs, kind: d.kind, targets, holdMs: d.holdMs, torn, ...(leaderFrom ? { leaderFrom } : {}) });
  }
}
