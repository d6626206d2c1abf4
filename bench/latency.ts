// Experiment 2: latency as the lab's clients see it, next to the floor of this machine. Client
// sessions (1 and 5 at once), each ONE keep-alive connection waiting for every answer: look up a
// random stock of 12; if it has shares, trade it with probability p (0, 0.5, 0.8); cache on (the
// default LRU of 5) and off, on two frontends in front of one back end, the modes alternating.
// Per point: p50/p99 of lookups and trades, the Server-Timing phases the frontend reports, and
// every placed order read back. One more point times cached lookups alone (1 session, 4 stocks
// that fit in the cache). The floor primitives (lib/floor.ts) are measured in the same run,
// before and after the sessions, in this process and on the services' file system.

import { randomUUID } from "node:crypto";
import { clientTradeQuantityMax, defaultStockNames, mismatchOf, seededRandom, summarize } from "../client/client.ts";
import type { LatencySummary, RecordedOrder } from "../client/client.ts";
import { initialQuantity } from "../catalog/initial_stocks.ts";
import type { BenchContext } from "./lib/context.ts";
import { cacheSizeDefault, ratio } from "./lib/context.ts";
import { ConflictError, StockBazaarError } from "../client/stock_bazaar_client.ts";
import type { StockBazaarClient } from "../client/stock_bazaar_client.ts";
import { floorPrimitives, FloorRig, floorsOf, sessionClient } from "./lib/floor.ts";
import type { FloorPrimitive, Floors, SampleBound } from "./lib/floor.ts";
import { meta } from "./lib/machine.ts";
import type { Meta } from "./lib/machine.ts";
import type { RunningService } from "../lib/service_process.ts";
import { ServerTimingCollector } from "./lib/server_timing.ts";
import type { ServerTimingSummary } from "./lib/server_timing.ts";
import { cpuSecondsOf, health, startFloorPeer, systemPids } from "./lib/systems.ts";

export type CacheMode = "on" | "off";

export type Parameters = {
  readonly sessions: readonly number[];
  readonly ps: readonly number[];
  /** Each point runs this long (every session loops until then), capped by iterationsMax. */
  readonly pointS: number;
  readonly iterationsMax: number;
  /** Per frontend, before the first point: connections up, code warm, batching in steady state. */
  readonly warmupS: number;
  readonly cacheSizeOn: number;
  readonly stocks: number;
  /** The cached-lookup point reads only these: fewer than the cache holds, so every lookup hits. */
  readonly hotStocks: readonly string[];
  readonly floor: SampleBound;
};

const hotStocks = defaultStockNames.slice(0, cacheSizeDefault - 1);
const fullParameters: Parameters = {
  sessions: [1, 5],
  ps: [0, 0.5, 0.8],
  pointS: 4,
  iterationsMax: 20_000,
  warmupS: 1,
  cacheSizeOn: cacheSizeDefault,
  stocks: defaultStockNames.length,
  hotStocks,
  floor: { warmups: 500, samplesMax: 3_000, durationMsMax: 1_000 },
};
// The quick grid keeps both session counts and cache modes but one p: it exercises every code
// path (trades, cache hits and misses, the floor, the read-back) in a few seconds.
const quickParameters: Parameters = {
  ...fullParameters,
  ps: [0.5],
  pointS: 0.4,
  warmupS: 0.2,
  floor: { warmups: 50, samplesMax: 300, durationMsMax: 150 },
};

export type LatencyPoint = {
  readonly sessions: number;
  readonly p: number;
  readonly cache: CacheMode;
  /** "all": the 12 stocks; "hot": the cached-lookup point. */
  readonly stocks: "all" | "hot";
  readonly lookup: LatencySummary;
  readonly trade: LatencySummary;
  readonly serverTiming: { readonly lookup: ServerTimingSummary; readonly trade: ServerTimingSummary };
  readonly orders: number;
  /** Orders read back (all, or a sample of each session's: readBackSample). */
  readonly verified: number;
  /** 409 insufficient quantity: an expected answer, not an error. */
  readonly rejected: number;
  readonly errors: number;
  readonly mismatches: number;
  readonly firstProblems: string[];
  readonly cacheHitRate: number | undefined;
  readonly durationS: number;
  /**
   * CPU (user + system) of every service process — catalog, replicas, this point's frontend —
   * while the sessions ran, per request answered (lookups and trades); undefined without /proc.
   */
  readonly cpuMsPerRequest: number | undefined;
};

export type FloorSummary = LatencySummary & { readonly roundP50Ms: number[] };

/** One request kind at 1 session, pooled over the points that measure it. */
export type Profile = {
  readonly from: string;
  readonly latency: LatencySummary;
  readonly floorMs: number;
  /** p50 ÷ floor */
  readonly overFloor: number;
  /**
   * CPU of all service processes per request of this kind (ms): measured directly for lookups;
   * for trades, what the 1-session cache-off points with trades used beyond their lookups' share
   * at the p = 0 point's CPU per lookup. One session runs one process at a time on the trade
   * path, so this CPU is spent in series, inside the latency.
   */
  readonly cpuMs?: number;
  /** Trades only: the floor from the woken round trips (every hop wakes an idle process), and p50 ÷ it. */
  readonly wokenFloorMs?: number;
  readonly overWokenFloor?: number;
  readonly serverTiming: ServerTimingSummary;
};

export type LatencyResult = {
  readonly experiment: "latency";
  readonly meta: Meta;
  readonly parameters: Parameters;
  readonly floor: { readonly primitives: Record<FloorPrimitive, FloorSummary>; readonly floors: Floors };
  readonly points: LatencyPoint[];
  readonly oneSession: { readonly trade: Profile; readonly lookupUncached: Profile; readonly lookupCached: Profile };
};

/** Everything one point measured, raw samples included (the JSON keeps only summaries). */
type PointRun = {
  readonly point: LatencyPoint;
  readonly lookupMs: number[];
  readonly tradeMs: number[];
  readonly lookupTiming: ServerTimingCollector;
  readonly tradeTiming: ServerTimingCollector;
};

type SessionState = {
  readonly lookupMs: number[];
  readonly tradeMs: number[];
  readonly lookupTiming: ServerTimingCollector;
  readonly tradeTiming: ServerTimingCollector;
  readonly orders: RecordedOrder[];
  verified: number;
  rejected: number;
  readonly errors: string[];
  readonly mismatches: string[];
};

type PointSpec = { readonly sessions: number; readonly p: number; readonly cache: CacheMode; readonly stocks: "all" | "hot" };

function newState(): SessionState {
  return {
    lookupMs: [],
    tradeMs: [],
    lookupTiming: new ServerTimingCollector(),
    tradeTiming: new ServerTimingCollector(),
    orders: [],
    verified: 0,
    rejected: 0,
    errors: [],
    mismatches: [],
  };
}

/** A call's outcome: the reply, or the error status the server answered with. */
type Timed<T> =
  | { readonly ms: number; readonly reply: T; readonly failure?: undefined }
  | { readonly ms: number; readonly reply?: undefined; readonly failure: StockBazaarError };

/** The failure if the server answered it (an error status or a malformed body); no answer (network, deadline) ends the session. */
function answered(err: unknown): StockBazaarError {
  if (err instanceof StockBazaarError && err.status !== undefined) return err;
  throw err;
}

/** One call timed from its start until its result is settled, the client's parse of the body included. */
async function timed<T>(call: () => Promise<T>): Promise<Timed<T>> {
  const started = performance.now();
  try {
    const reply = await call();
    return { ms: performance.now() - started, reply };
  } catch (err) {
    const failure = answered(err);
    return { ms: performance.now() - started, failure };
  }
}

/**
 * One session's loop until `endAt`. A trade buys while the stock holds more than it started
 * with and sells otherwise, so quantities stay near their start and trades are not refused
 * for want of shares however long the benchmark runs. An answered failure counts as a response
 * without Server-Timing: the client's typed errors do not carry the header, and the frontend
 * sends none with a 409, the one failure expected here.
 */
async function runSession(
  client: StockBazaarClient,
  spec: PointSpec & { readonly names: readonly string[]; readonly endAt: number; readonly iterationsMax: number },
  random: () => number,
  keyPrefix: string,
  state: SessionState,
): Promise<void> {
  for (let i = 0; i < spec.iterationsMax && performance.now() < spec.endAt; i++) {
    const name = spec.names[Math.floor(random() * spec.names.length)] as string;
    const tradeRoll = random();
    const quantity = 1 + Math.floor(random() * clientTradeQuantityMax);
    const look = await timed(() => client.lookup(name));
    state.lookupMs.push(look.ms);
    state.lookupTiming.add(look.reply?.serverTiming);
    if (look.reply === undefined) {
      state.errors.push(`lookup ${name}: ${look.failure.message.slice(0, 200)}`);
      continue;
    }
    const shares = look.reply.data.quantity;
    if (!(shares > 0) || tradeRoll >= spec.p) continue;
    const type = shares > initialQuantity ? "buy" : "sell";
    const trade = await timed(() => client.trade({ name, type, quantity, idempotencyKey: `${keyPrefix}-${i}` }));
    state.tradeMs.push(trade.ms);
    state.tradeTiming.add(trade.reply?.serverTiming);
    if (trade.reply !== undefined) {
      state.orders.push({ number: trade.reply.data.transactionNumber, name, type, quantity });
    } else if (trade.failure instanceof ConflictError) {
      state.rejected++;
    } else {
      state.errors.push(`trade ${JSON.stringify({ name, quantity, type })}: ${trade.failure.message.slice(0, 200)}`);
    }
  }
}

/**
 * Orders a session reads back after a point: all of them up to this many, else this many
 * spread evenly over the point. Bounds the read-back when a loaded machine makes it slow; the
 * failover experiment and the chaos campaign check every order.
 */
export const verifyOrdersMax = 200;

/** The orders to read back: every one, or verifyOrdersMax spread evenly over them. */
export function readBackSample<T>(orders: readonly T[]): T[] {
  if (orders.length <= verifyOrdersMax) return [...orders];
  return Array.from({ length: verifyOrdersMax }, (_, i) => orders[Math.floor((i * orders.length) / verifyOrdersMax)] as T);
}

/** Orders the session placed read back as placed (GET /orders/{number}). */
async function verify(client: StockBazaarClient, state: SessionState): Promise<void> {
  for (const order of readBackSample(state.orders)) {
    state.verified++;
    const mismatch = await mismatchOf(client, order);
    if (mismatch !== undefined) state.mismatches.push(mismatch);
  }
}

/** A frontend to run sessions against: its port, and the service processes behind it (for CPU). */
type Target = { readonly port: number; readonly pids: readonly number[] };

async function runPoint(target: Target, spec: PointSpec, params: Parameters, durationS: number, seed: number): Promise<PointRun> {
  const { port } = target;
  const names = spec.stocks === "hot" ? params.hotStocks : defaultStockNames;
  const before = (await health(port)).cache;
  const runId = `lat${seed}-${randomUUID().slice(0, 8)}`;
  const started = performance.now();
  const endAt = started + durationS * 1000;
  const states = Array.from({ length: spec.sessions }, newState);
  const clients = states.map(() => sessionClient(port));
  const cpuBefore = cpuSecondsOf(target.pids);
  let cpuAfter: number | undefined;
  try {
    // Every session's loop first, then the read-back, so the CPU figure covers the loops alone.
    // A session whose loop threw is not read back.
    const threw = new Set<number>();
    const each = (work: (client: StockBazaarClient, state: SessionState, i: number) => Promise<void>) =>
      Promise.all(states.map(async (state, i) => {
        if (threw.has(i)) return;
        try {
          await work(clients[i] as StockBazaarClient, state, i);
        } catch (err) {
          threw.add(i);
          state.errors.push(`session ${i}: ${err instanceof Error ? err.message : String(err)}`);
        }
      }));
    await each((client, state, i) =>
      runSession(
        client,
        { ...spec, names, endAt, iterationsMax: params.iterationsMax },
        seededRandom(seed * 7919 + i),
        `${runId}-${i}`,
        state,
      )
    );
    cpuAfter = cpuSecondsOf(target.pids);
    await each((client, state) => verify(client, state));
  } finally {
    for (const c of clients) c.close();
  }
  const elapsedS = Math.round((performance.now() - started) / 100) / 10;
  const after = (await health(port)).cache;
  const lookups = after.hits - before.hits + (after.misses - before.misses);
  const pool = <T>(pick: (s: SessionState) => T[]): T[] => states.flatMap(pick);
  const lookupTiming = new ServerTimingCollector();
  const tradeTiming = new ServerTimingCollector();
  for (const s of states) {
    lookupTiming.merge(s.lookupTiming);
    tradeTiming.merge(s.tradeTiming);
  }
  const lookupMs = pool((s) => s.lookupMs);
  const tradeMs = pool((s) => s.tradeMs);
  const errors = pool((s) => s.errors);
  const mismatches = pool((s) => s.mismatches);
  const problems = [...errors, ...mismatches];
  const requests = lookupMs.length + tradeMs.length;
  const cpuMsPerRequest = cpuBefore === undefined || cpuAfter === undefined || requests === 0
    ? undefined
    : Math.round(((cpuAfter - cpuBefore) * 1000 / requests) * 1000) / 1000;
  const point: LatencyPoint = {
    ...spec,
    lookup: summarize(lookupMs),
    trade: summarize(tradeMs),
    serverTiming: { lookup: lookupTiming.summary(), trade: tradeTiming.summary() },
    orders: pool((s) => s.orders).length,
    verified: states.reduce((k, s) => k + s.verified, 0),
    rejected: states.reduce((k, s) => k + s.rejected, 0),
    errors: errors.length,
    mismatches: mismatches.length,
    firstProblems: problems.slice(0, 5),
    cacheHitRate: spec.cache === "on" && lookups > 0 ? Math.round(((after.hits - before.hits) / lookups) * 1000) / 1000 : undefined,
    durationS: elapsedS,
    cpuMsPerRequest,
  };
  return { point, lookupMs, tradeMs, lookupTiming, tradeTiming };
}

function describe(pt: LatencyPoint): string {
  const f = (s: LatencySummary): string => (s.count === 0 ? "–" : `p50 ${s.p50Ms.toFixed(3)} p99 ${s.p99Ms.toFixed(3)} ms (n=${s.count})`);
  const sessions = `${pt.sessions} session${pt.sessions === 1 ? "" : "s"}`;
  const where = pt.stocks === "hot" ? `${sessions}, hot stocks` : `${sessions} p=${pt.p.toFixed(1)}`;
  return `  ${where} cache ${pt.cache.padEnd(3)} lookup ${f(pt.lookup)} | trade ${f(pt.trade)}` +
    `${pt.cacheHitRate !== undefined ? ` | hit rate ${pt.cacheHitRate}` : ""}` +
    `${pt.errors + pt.mismatches > 0 ? ` | ${pt.errors} errors ${pt.mismatches} mismatches` : ""}`;
}

async function measureFloor(rig: FloorRig, bound: SampleBound, samples: Map<FloorPrimitive, number[][]>): Promise<string> {
  const parts: string[] = [];
  for (const primitive of floorPrimitives) {
    const round = await rig.measure(primitive, bound);
    samples.set(primitive, [...(samples.get(primitive) ?? []), round]);
    parts.push(`${primitive} ${summarize(round).p50Ms.toFixed(3)}`);
  }
  return `  floor p50 (ms): ${parts.join(", ")}`;
}

function floorResult(samples: Map<FloorPrimitive, number[][]>): LatencyResult["floor"] {
  const primitives = Object.fromEntries(floorPrimitives.map((primitive) => {
    const rounds = samples.get(primitive) ?? [];
    return [primitive, { ...summarize(rounds.flat()), roundP50Ms: rounds.map((r) => summarize(r).p50Ms) }];
  })) as Record<FloorPrimitive, FloorSummary>;
  const p50 = Object.fromEntries(floorPrimitives.map((p) => [p, primitives[p].p50Ms])) as Record<FloorPrimitive, number>;
  return { primitives, floors: floorsOf(p50) };
}

/** CPU ms of a point's sessions (all service processes), undefined where unmeasured. */
function cpuMsOf(pt: LatencyPoint): number | undefined {
  return pt.cpuMsPerRequest === undefined ? undefined : pt.cpuMsPerRequest * (pt.lookup.count + pt.trade.count);
}

/** CPU ms per lookup and per trade at one session, cache off (see Profile.cpuMs). */
export function oneSessionCpu(oneOff: readonly LatencyPoint[]): { lookupMs?: number; tradeMs?: number } {
  const lookupsOnly = oneOff.find((pt) => pt.p === 0);
  if (lookupsOnly === undefined) return {};
  const lookupCpu = cpuMsOf(lookupsOnly);
  if (lookupCpu === undefined || lookupsOnly.lookup.count === 0) return {};
  const r = (x: number): number => Math.round(x * 1000) / 1000;
  const perLookup = lookupCpu / lookupsOnly.lookup.count;
  let tradeCpu = 0;
  let trades = 0;
  for (const pt of oneOff.filter((x) => x.p > 0)) {
    const cpu = cpuMsOf(pt);
    if (cpu === undefined) return { lookupMs: r(perLookup) };
    tradeCpu += cpu - pt.lookup.count * perLookup;
    trades += pt.trade.count;
  }
  return trades === 0 ? { lookupMs: r(perLookup) } : { lookupMs: r(perLookup), tradeMs: r(tradeCpu / trades) };
}

function profile(
  from: string,
  runs: readonly PointRun[],
  kind: "lookup" | "trade",
  floorMs: number,
  cpuMs: number | undefined,
  wokenFloorMs?: number,
): Profile {
  const timing = new ServerTimingCollector();
  for (const r of runs) timing.merge(kind === "lookup" ? r.lookupTiming : r.tradeTiming);
  const latency = summarize(runs.flatMap((r) => (kind === "lookup" ? r.lookupMs : r.tradeMs)));
  return {
    from,
    latency,
    floorMs,
    overFloor: ratio(latency.p50Ms, floorMs),
    ...(cpuMs === undefined ? {} : { cpuMs }),
    ...(wokenFloorMs === undefined ? {} : { wokenFloorMs, overWokenFloor: ratio(latency.p50Ms, wokenFloorMs) }),
    serverTiming: timing.summary(),
  };
}

export async function runLatency(ctx: BenchContext): Promise<LatencyResult> {
  const params = ctx.quick ? quickParameters : fullParameters;
  const startedMs = performance.now();
  const backend = await ctx.backend();
  const runMeta = meta(backend.dataDir);
  const target = (frontend: RunningService): Target => ({ port: frontend.port, pids: systemPids(backend, frontend) });
  const ports: Record<CacheMode, Target> = {
    on: target(await ctx.frontend("cache-on")),
    off: target(await ctx.frontend("cache-off")),
  };
  const rig = await FloorRig.start(backend.dataDir, await startFloorPeer(ctx.scope));
  ctx.log(`  system and floor servers ready in ${((performance.now() - startedMs) / 1000).toFixed(1)} s`);
  ctx.scope.own({ name: "latency floor servers", killNow: () => rig.close() });
  const floorSamples = new Map<FloorPrimitive, number[][]>();
  ctx.log(await measureFloor(rig, params.floor, floorSamples));
  // Each point needs its own seed: it makes the orders' Idempotency-Keys, and a reused key
  // would be answered from the log without trading.
  let run = 0;
  const seed = (): number => ctx.seed * 1000 + run++;
  for (const cache of ["on", "off"] as const) {
    await runPoint(ports[cache], { sessions: 5, p: 0.5, cache, stocks: "all" }, params, params.warmupS, seed());
  }
  const runs: PointRun[] = [];
  const record = (r: PointRun): void => {
    runs.push(r);
    ctx.log(describe(r.point));
  };
  // Warm the hot stocks into the cache, then time lookups that all hit.
  await runPoint(ports.on, { sessions: 1, p: 0, cache: "on", stocks: "hot" }, params, params.warmupS, seed());
  record(await runPoint(ports.on, { sessions: 1, p: 0, cache: "on", stocks: "hot" }, params, params.pointS, seed()));
  let turn = 0;
  for (const sessions of params.sessions) {
    for (const p of params.ps) {
      // Alternate which cache mode runs first, so drift of a shared machine hits both alike.
      const modes: CacheMode[] = turn++ % 2 === 0 ? ["on", "off"] : ["off", "on"];
      for (const cache of modes) record(await runPoint(ports[cache], { sessions, p, cache, stocks: "all" }, params, params.pointS, seed()));
    }
  }
  ctx.log(await measureFloor(rig, params.floor, floorSamples));
  const floor = floorResult(floorSamples);
  const grid = runs.filter((r) => r.point.stocks === "all");
  const one = grid.filter((r) => r.point.sessions === 1);
  const cpu = oneSessionCpu(one.filter((r) => r.point.cache === "off").map((r) => r.point));
  const hot = runs.filter((r) => r.point.stocks === "hot");
  const oneSession = {
    trade: profile("1 session, every p and cache mode", one, "trade", floor.floors.tradeMs, cpu.tradeMs, floor.floors.tradeWokenMs),
    lookupUncached: profile(
      "1 session, cache off, every p",
      one.filter((r) => r.point.cache === "off"),
      "lookup",
      floor.floors.lookupUncachedMs,
      cpu.lookupMs,
    ),
    lookupCached: profile(
      `1 session, ${params.hotStocks.length} stocks all in the cache`,
      hot,
      "lookup",
      floor.floors.lookupCachedMs,
      hot.map((r) => r.point.cpuMsPerRequest).find((x) => x !== undefined),
    ),
  };
  const order = (a: LatencyPoint, b: LatencyPoint): number =>
    a.sessions - b.sessions || (a.cache === b.cache ? 0 : a.cache === "on" ? -1 : 1) || a.p - b.p;
  return {
    experiment: "latency",
    meta: runMeta,
    parameters: params,
    floor,
    points: grid.map((r) => r.point).sort(order).concat(hot.map((r) => r.point)),
    oneSession,
  };
}
