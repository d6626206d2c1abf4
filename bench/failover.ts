// Experiment 3, failover: a whole system under a steady stream of concurrent trades; a replica
// is killed with SIGKILL several times (the leader every other time, otherwise a random
// replica, which may be the leader again) and restarted each time. Reported: per kill, the
// time until the next successful trade and the longest stretch with no successful trade; the
// errors clients saw (there should be none); and the final consistency check of README: Guarantees
// (replica files byte-identical, numbers 0..n-1, every acknowledged order present, catalog
// quantities equal to what the log says). Measures; a failed check is reported, not thrown.

import * as fs from "node:fs";
import { seededRandom, summarize } from "../client/client.ts";
import type { LatencySummary } from "../client/client.ts";
import type { LocalSystem } from "../test/support/local_system.ts";
import { sleep } from "../lib/sleep.ts";
import { readOrderLog, verifyGuarantees } from "../test/support/verify.ts";
import type { BenchContext } from "./lib/context.ts";
import { round1 } from "./lib/context.ts";
import { meta } from "./lib/machine.ts";
import type { Meta } from "./lib/machine.ts";
import { health, startSystem } from "./lib/systems.ts";
import { TradeLoad } from "../test/support/load.ts";

export type Parameters = {
  readonly concurrency: number;
  readonly kills: number;
  /** Load runs this long before the first kill and after each restarted replica is ready. */
  readonly settleMs: number;
  /** A killed replica stays down this long (plus up to downJitterMs) before it is restarted. */
  readonly downMs: number;
  readonly downJitterMs: number;
  /** After a kill, gaps are looked for in this window (cut at the restart). */
  readonly gapWindowMs: number;
  readonly bucketMs: number;
};

const fullParameters: Parameters = {
  concurrency: 8,
  kills: 6,
  settleMs: 2_500,
  downMs: 1_000,
  downJitterMs: 1_000,
  gapWindowMs: 3_000,
  bucketMs: 100,
};
const quickParameters: Parameters = {
  concurrency: 4,
  kills: 2,
  settleMs: 300,
  downMs: 200,
  downJitterMs: 0,
  gapWindowMs: 1_000,
  bucketMs: 100,
};
/** A restarted replica must report ready within this long. */
const replicaReadyTimeoutMs = 30_000;
const readyPollMs = 25;

export type KillEvent = {
  readonly victim: number;
  readonly role: "leader" | "follower";
  readonly leaderBefore: number | null;
  readonly leaderAfter: number | null;
  /** Milliseconds since the load started. */
  readonly killAtMs: number;
  readonly restartAtMs: number;
  readonly listeningAtMs: number;
  readonly readyAtMs: number;
  /** From the SIGKILL to the next acknowledged trade. */
  readonly firstTradeAfterKillMs: number | null;
  /** Longest time with no acknowledged trade, overlapping the window after the kill. */
  readonly longestGapAfterKillMs: number;
  /** Longest time with no acknowledged trade while the replica restarted and caught up. */
  readonly longestGapAroundRestartMs: number;
  /** Slowest acknowledged trade sent in the window after the kill (a client's worst wait). */
  readonly slowestTradeAfterKillMs: number;
};

export type Consistency = {
  readonly ok: boolean;
  readonly error: string | undefined;
  readonly filesIdentical: boolean;
  readonly fileBytes: number[];
  readonly logRows: number;
  readonly ackedMissing: number;
};

export type FailoverResult = {
  readonly experiment: "failover";
  readonly meta: Meta;
  readonly parameters: Parameters;
  readonly durationMs: number;
  readonly acked: number;
  readonly rejected: number;
  readonly errors: number;
  readonly firstErrors: string[];
  readonly tradeLatency: LatencySummary;
  /**
   * Longest gap between acknowledged trades while every replica was up and ready (before the
   * first kill, and from shortly after each restarted replica was ready to the next kill):
   * the machine's own noise, to read the gaps after kills against.
   */
  readonly baselineLongestGapMs: number;
  /** The headline: the longest gap after any SIGKILL of the leader. */
  readonly leaderKillLongestGapMs: number;
  readonly events: KillEvent[];
  readonly consistency: Consistency;
  readonly timeline: { readonly bucketMs: number; readonly okPerBucket: number[] };
};

/** Longest interval with no time in `sorted` that overlaps [from, to] (to is clipped to `end`). */
export function longestGap(sorted: readonly number[], from: number, to: number, end: number): number {
  let prev = from;
  for (const t of sorted) {
    if (t <= from) prev = t;
    else break;
  }
  let best = 0;
  for (const t of sorted) {
    if (t <= from) continue;
    best = Math.max(best, t - prev);
    prev = t;
    if (t >= to) return round1(best);
  }
  return round1(Math.max(best, Math.min(to, end) - prev));
}

async function leaderOf(port: number): Promise<number | null> {
  try {
    return (await health(port)).leader;
  } catch {
    return null;
  }
}

async function waitReady(port: number, id: number): Promise<void> {
  const deadline = Date.now() + replicaReadyTimeoutMs;
  for (;;) {
    const h = await health(port).catch(() => undefined);
    if (h?.replicas.some((r) => r.id === id && r.up && r.ready)) return;
    if (Date.now() > deadline) throw new Error(`replica ${id} not ready ${replicaReadyTimeoutMs} ms after its restart`);
    await sleep(readyPollMs);
  }
}

type RawEvent = Omit<
  KillEvent,
  "firstTradeAfterKillMs" | "longestGapAfterKillMs" | "longestGapAroundRestartMs" | "slowestTradeAfterKillMs"
>;

async function killAndRestart(
  ctx: BenchContext,
  cluster: LocalSystem,
  load: TradeLoad,
  victim: number,
  leaderBefore: number | null,
  downMs: number,
): Promise<RawEvent> {
  const port = cluster.frontendPort;
  const killAtMs = load.now();
  await cluster.kill(cluster.replicas.get(victim));
  await sleep(downMs);
  const restartAtMs = load.now();
  await cluster.startReplica(victim);
  const listeningAtMs = load.now();
  await waitReady(port, victim);
  const readyAtMs = load.now();
  const leaderAfter = await leaderOf(port);
  const role = victim === leaderBefore ? "leader" : "follower";
  ctx.log(
    `  killed replica ${victim} (${role}) at ${(killAtMs / 1000).toFixed(2)} s, restarted after ${
      Math.round(restartAtMs - killAtMs)
    } ms, ` +
      `ready ${
        Math.round(readyAtMs - restartAtMs)
      } ms later; leader now ${leaderAfter}; acked so far ${load.acked.length}, errors ${load.failures.length}`,
  );
  return {
    victim,
    role,
    leaderBefore,
    leaderAfter,
    killAtMs: round1(killAtMs),
    restartAtMs: round1(restartAtMs),
    listeningAtMs: round1(listeningAtMs),
    readyAtMs: round1(readyAtMs),
  };
}

function analyse(raw: RawEvent, load: TradeLoad, answered: readonly number[], params: Parameters, endMs: number): KillEvent {
  const windowEnd = Math.min(raw.killAtMs + params.gapWindowMs, raw.restartAtMs);
  const first = answered.find((t) => t > raw.killAtMs);
  const slowest = load.acked.filter((a) => a.sentMs >= raw.killAtMs - params.gapWindowMs && a.sentMs <= windowEnd)
    .reduce((m, a) => Math.max(m, a.answeredMs - a.sentMs), 0);
  return {
    ...raw,
    firstTradeAfterKillMs: first === undefined ? null : round1(first - raw.killAtMs),
    longestGapAfterKillMs: longestGap(answered, raw.killAtMs, windowEnd, endMs),
    longestGapAroundRestartMs: longestGap(answered, raw.restartAtMs, raw.readyAtMs + params.settleMs / 2, endMs),
    slowestTradeAfterKillMs: round1(slowest),
  };
}

async function checkConsistency(cluster: LocalSystem, load: TradeLoad): Promise<Consistency> {
  let error: string | undefined;
  try {
    await verifyGuarantees(cluster, load.acked);
  } catch (err) {
    error = err instanceof Error ? err.message : String(err);
  }
  const files = [1, 2, 3].map((id) => (fs.existsSync(cluster.orderFile(id)) ? fs.readFileSync(cluster.orderFile(id)) : Buffer.alloc(0)));
  const log = readOrderLog(cluster.orderFile(1));
  const inLog = new Set(log.map((r) => r.number));
  return {
    ok: error === undefined,
    error,
    filesIdentical: files.every((f) => f.equals(files[0] as Buffer)),
    fileBytes: files.map((f) => f.length),
    logRows: log.length,
    ackedMissing: load.acked.filter((a) => !inLog.has(a.number)).length,
  };
}

/** longestGap over the windows in which no replica was down or catching up. */
function quietLongestGap(
  answered: readonly number[],
  events: readonly KillEvent[],
  firstKillAtMs: number,
  params: Parameters,
  endMs: number,
): number {
  const windows: [number, number][] = [[params.settleMs / 2, firstKillAtMs]];
  events.forEach((e, i) => windows.push([e.readyAtMs + params.settleMs / 2, events[i + 1]?.killAtMs ?? endMs]));
  return Math.max(0, ...windows.filter(([from, to]) => to - from > 0).map(([from, to]) => quietGap(answered, from, to)));
}

/** Like longestGap, but only the part of each gap inside [from, to]. */
function quietGap(sorted: readonly number[], from: number, to: number): number {
  let prev = from;
  let best = 0;
  for (const t of sorted) {
    if (t <= from) continue;
    if (t >= to) break;
    best = Math.max(best, t - prev);
    prev = t;
  }
  return round1(Math.max(best, to - prev));
}

function buckets(answered: readonly number[], bucketMs: number, endMs: number): number[] {
  const out = new Array<number>(Math.max(1, Math.ceil(endMs / bucketMs))).fill(0);
  for (const t of answered) {
    const i = Math.min(out.length - 1, Math.floor(t / bucketMs));
    out[i] = (out[i] ?? 0) + 1;
  }
  return out;
}

export async function runFailover(ctx: BenchContext): Promise<FailoverResult> {
  const params = ctx.quick ? quickParameters : fullParameters;
  const random = seededRandom(ctx.seed);
  ctx.log("starting a whole system (catalog, 3 replicas, frontend)");
  const cluster = await startSystem(ctx.scope);
  const runMeta = meta(cluster.dataDir);
  const load = new TradeLoad(cluster.url, params.concurrency, ctx.seed, { keyPrefix: "bench", t0: performance.now() });
  ctx.scope.own({ name: "trade load", killNow: () => load.halt() });
  const raw: RawEvent[] = [];
  let firstKillAtMs = 0;
  try {
    await sleep(params.settleMs);
    for (let k = 0; k < params.kills; k++) {
      const leader = await leaderOf(cluster.frontendPort);
      const ids = [...cluster.replicas.keys()];
      const victim = k % 2 === 0 && leader !== null ? leader : (ids[Math.floor(random() * ids.length)] as number);
      if (k === 0) firstKillAtMs = load.now();
      raw.push(await killAndRestart(ctx, cluster, load, victim, leader, params.downMs + Math.floor(random() * params.downJitterMs)));
      await sleep(params.settleMs);
    }
  } finally {
    await load.stop();
  }
  const endMs = load.now();
  const answered = load.acked.map((a) => a.answeredMs).sort((a, b) => a - b);
  const events = raw.map((r) => analyse(r, load, answered, params, endMs));
  ctx.log(
    `  load stopped: ${load.acked.length} acknowledged, ${load.rejected.length} rejected (409), ${load.errors.length} errors; checking consistency`,
  );
  const consistency = await checkConsistency(cluster, load);
  ctx.log(
    `  consistency: ${
      consistency.ok ? "OK" : `FAILED: ${consistency.error}`
    } (${consistency.logRows} orders in the log, files identical: ${consistency.filesIdentical})`,
  );
  const leaderGaps = events.filter((e) => e.role === "leader").map((e) => e.longestGapAfterKillMs);
  return {
    experiment: "failover",
    meta: runMeta,
    parameters: params,
    durationMs: Math.round(endMs),
    acked: load.acked.length,
    rejected: load.rejected.length,
    errors: load.failures.length,
    firstErrors: load.failures.slice(0, 10).map((e) => `${(e.atMs / 1000).toFixed(2)} s: ${e.message}`),
    tradeLatency: summarize(load.acked.map((a) => a.answeredMs - a.sentMs)),
    baselineLongestGapMs: quietLongestGap(answered, events, firstKillAtMs, params, endMs),
    leaderKillLongestGapMs: leaderGaps.length > 0 ? Math.max(...leaderGaps) : 0,
    events,
    consistency,
    timeline: { bucketMs: params.bucketMs, okPerBucket: buckets(answered, params.bucketMs, endMs) },
  };
}
