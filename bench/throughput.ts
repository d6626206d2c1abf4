// Experiment 1: throughput and latency under autocannon, each workload side by side, in the
// same run, with a bare reference server that returns the same JSON bytes; the ratio is the
// headline (absolute numbers are noise on a shared machine). Workloads: our HTTP server on a
// fixed route vs node:http; cached lookup; uncached lookup (cache off, every lookup a gRPC
// call to the catalog); trade (POST /orders, every request a new order, fsync on every
// replica); a mix of lookups and trades. The trade workload also runs against a one-replica
// system, and the raw fdatasync rate of one file on the same disk is measured, giving the
// cost of replication and what group commit buys. Rounds alternate the sides' order.

import { seededRandom } from "../client/client.ts";
import { initialStocks } from "../catalog/initial_stocks.ts";
import { jsonContentType } from "../frontend/http/response.ts";
import type { RunningService } from "../lib/service_process.ts";
import type { LocalSystem } from "../test/support/local_system.ts";
import { withClient } from "../test/support/http.ts";
import { runLoad } from "./lib/autocannon.ts";
import type { LoadRequest, LoadRun } from "./lib/autocannon.ts";
import type { BenchContext } from "./lib/context.ts";
import { appendFdatasyncSamples } from "./lib/floor.ts";
import { median, ratio, round1 } from "./lib/context.ts";
import { meta } from "./lib/machine.ts";
import type { Meta } from "./lib/machine.ts";
import type { ReferenceBodies } from "./lib/reference_server.ts";
import { cpuSecondsOf, health, startBackend, startFrontend, startReference, systemPids } from "./lib/systems.ts";

const stockNames = initialStocks.map((s) => s.name);
/** Cached-lookup workloads read this many stocks, fewer than the default CACHE_SIZE (5). */
const hotStocks = stockNames.slice(0, 4);
/** In the mix, this share of lookups goes to the hot stocks, the rest to the other eight. */
const mixHotShare = 0.7;
/** In the mix, one request in this many is a trade. */
const mixTradeEvery = 5;

export type Parameters = {
  readonly durationS: number;
  readonly warmupS: number;
  readonly rounds: number;
  readonly connections: Readonly<Record<Scenario, number>>;
  readonly fdatasyncS: number;
  /** Trades against 3 replicas and against 1, at each of these client counts (one round each). */
  readonly tradeSweep: { readonly connections: readonly number[]; readonly durationS: number; readonly warmupS: number };
};

const fullParameters: Parameters = {
  durationS: 4,
  warmupS: 1,
  rounds: 3,
  fdatasyncS: 3,
  // Trades get more connections: every batch (one catalog call, one Append per follower, one
  // fsync per process) costs far more than an order's own work, and a batch holds the orders
  // that waited for the previous one, so trades/s rises with concurrent clients until the CPU
  // is saturated. The sweep below shows the whole curve; the headline is taken at 256.
  connections: { http_fixed: 32, lookup_cached: 32, lookup_uncached: 32, trade: 256, mix: 32 },
  tradeSweep: { connections: [16, 64, 256, 512], durationS: 3, warmupS: 1 },
};
const quickParameters: Parameters = {
  durationS: 0.5,
  warmupS: 0,
  rounds: 1,
  fdatasyncS: 0.3,
  connections: { http_fixed: 8, lookup_cached: 8, lookup_uncached: 8, trade: 16, mix: 8 },
  tradeSweep: { connections: [4, 16], durationS: 0.5, warmupS: 0 },
};

export const scenarios = ["http_fixed", "lookup_cached", "lookup_uncached", "trade", "mix"] as const;
export type Scenario = typeof scenarios[number];

const descriptions: Record<Scenario, string> = {
  http_fixed: "the hand-written HTTP/1.1 server (frontend/http) answering a fixed JSON route, vs node:http answering the same bytes",
  lookup_cached: `GET /stocks/{name} over ${hotStocks.length} stocks, all in the cache (CACHE_SIZE=5)`,
  lookup_uncached:
    `GET /stocks/{name} over ${hotStocks.length} stocks with the cache off (CACHE_SIZE=0): every lookup is a gRPC call to the catalog`,
  trade:
    "POST /orders, every request a new order (no Idempotency-Key), sells and buys alternating per stock; fsync on the catalog and on all 3 replicas",
  mix: `1 trade in ${mixTradeEvery} requests, the rest lookups (${
    mixHotShare * 100
  }% on ${hotStocks.length} hot stocks, the rest on the other ${stockNames.length - hotStocks.length}), cache on (CACHE_SIZE=5)`,
};

/** One autocannon run against one side, plus CPU and cache figures where they apply. */
export type SideRun = LoadRun & {
  readonly round: number;
  /** CPU µs per answered request, summed over the side's server processes. */
  readonly cpuUsPerRequest: number | undefined;
  /** Share of lookups served from the cache, from the frontend's /health counters. */
  readonly cacheHitRate: number | undefined;
};

export type SideSummary = {
  readonly label: string;
  readonly runs: SideRun[];
  /** Medians over the rounds. */
  readonly okPerSecond: number;
  readonly latencyMs: { readonly p50: number; readonly p90: number; readonly p99: number };
  readonly cpuUsPerRequest: number | undefined;
  readonly statuses: Record<string, number>;
  readonly errors: number;
};

export type Comparison = {
  readonly scenario: Scenario;
  readonly description: string;
  readonly connections: number;
  readonly system: SideSummary;
  readonly reference: SideSummary;
  /** system ok/s ÷ reference ok/s: the headline figure. */
  readonly ratio: number;
  /**
   * Reference CPU per request ÷ system CPU per request (1 = as frugal as the reference). When
   * the load generator, not the server, is the bottleneck, this shows what the rate cannot.
   */
  readonly cpuRatio: number | undefined;
};

/** One point of the trade sweep: the same load against 3 replicas and against 1. */
export type TradeSweepPoint = {
  readonly connections: number;
  readonly replicated: SideRun;
  readonly single: SideRun;
  /** replicated ok/s ÷ single ok/s */
  readonly ratio: number;
};

export type ThroughputResult = {
  readonly experiment: "throughput";
  readonly meta: Meta;
  readonly parameters: Parameters;
  readonly comparisons: Comparison[];
  readonly cachedOverUncached: number;
  readonly trades: {
    readonly replicatedPerSecond: number;
    readonly single: SideSummary;
    readonly replicatedOverSingle: number;
    readonly fdatasyncPerSecond: number;
    readonly tradesOverFdatasync: number;
    readonly sweep: TradeSweepPoint[];
  };
};

type Target = { readonly label: string; readonly port: number; readonly pids: number[]; readonly frontendPort: number | undefined };

function lookupRequests(names: readonly string[]): LoadRequest[] {
  return names.map((name) => ({ method: "GET", path: `/stocks/${encodeURIComponent(name)}` }));
}

/** Every call gives a new order; per stock, sells and buys alternate (sell first), so no stock runs dry. */
function orderBodies(): () => string {
  let n = 0;
  return () => {
    const i = n++;
    const name = stockNames[i % stockNames.length] as string;
    const type = Math.floor(i / stockNames.length) % 2 === 0 ? "sell" : "buy";
    return JSON.stringify({ name, quantity: 1, type });
  };
}

function tradeRequests(): LoadRequest[] {
  const next = orderBodies();
  return [{
    method: "POST",
    path: "/orders",
    headers: { "content-type": jsonContentType },
    setupRequest: (request) => ({ ...request, body: next() }),
  }];
}

function mixRequests(seed: number): LoadRequest[] {
  const random = seededRandom(seed);
  const nextOrder = orderBodies();
  const cold = stockNames.slice(hotStocks.length);
  let n = 0;
  return [{
    setupRequest: (request) => {
      if (n++ % mixTradeEvery === mixTradeEvery - 1) {
        return { ...request, method: "POST", path: "/orders", headers: { "content-type": jsonContentType }, body: nextOrder() };
      }
      const pool = random() < mixHotShare ? hotStocks : cold;
      const name = pool[Math.floor(random() * pool.length)] as string;
      return { ...request, method: "GET", path: `/stocks/${encodeURIComponent(name)}`, headers: {}, body: "" };
    },
  }];
}

function requestsFor(scenario: Scenario, seed: number): LoadRequest[] {
  switch (scenario) {
    case "http_fixed":
      return lookupRequests(["GameStart"]);
    case "lookup_cached":
    case "lookup_uncached":
      return lookupRequests(hotStocks);
    case "trade":
      return tradeRequests();
    case "mix":
      return mixRequests(seed);
  }
}

/**
 * The bytes the frontend answers, for the reference server to replay: each body rebuilt from the
 * client's reply in the frontend's own shape and field order (frontend/api.ts serializes it so).
 */
async function captureBodies(frontendPort: number): Promise<ReferenceBodies> {
  return await withClient(`http://127.0.0.1:${frontendPort}`, async (client) => {
    const stocks: Record<string, string> = {};
    for (const name of stockNames) {
      const { data } = await client.lookup(name);
      stocks[name] = JSON.stringify({ data: { name: data.name, price: data.price, quantity: data.quantity, volume: data.volume } });
    }
    const order = await client.trade({ name: "GameStart", quantity: 1, type: "sell" });
    return { stocks, order: JSON.stringify({ data: { transaction_number: order.data.transactionNumber } }) };
  });
}

type Timing = { readonly connections: number; readonly durationS: number; readonly warmupS: number };

function timingOf(params: Parameters, scenario: Scenario): Timing {
  return { connections: params.connections[scenario], durationS: params.durationS, warmupS: params.warmupS };
}

async function measureSide(ctx: BenchContext, target: Target, scenario: Scenario, timing: Timing, round: number): Promise<SideRun> {
  const spec = { url: `http://127.0.0.1:${target.port}`, connections: timing.connections };
  const label = `${scenario} c${timing.connections} ${target.label}`;
  if (timing.warmupS > 0) {
    await runLoad(ctx.scope, {
      ...spec,
      label: `${label} warm-up`,
      durationS: timing.warmupS,
      requests: requestsFor(scenario, ctx.seed + round),
    });
  }
  const cacheBefore = target.frontendPort === undefined ? undefined : (await health(target.frontendPort)).cache;
  const cpuBefore = cpuSecondsOf(target.pids);
  const run = await runLoad(ctx.scope, { ...spec, label, durationS: timing.durationS, requests: requestsFor(scenario, ctx.seed + round) });
  const cpuAfter = cpuSecondsOf(target.pids);
  const cacheAfter = target.frontendPort === undefined ? undefined : (await health(target.frontendPort)).cache;
  const lookups = cacheBefore && cacheAfter ? (cacheAfter.hits - cacheBefore.hits) + (cacheAfter.misses - cacheBefore.misses) : 0;
  const side: SideRun = {
    ...run,
    round,
    cpuUsPerRequest: cpuBefore !== undefined && cpuAfter !== undefined && run.requests > 0
      ? round1(((cpuAfter - cpuBefore) * 1e6) / run.requests)
      : undefined,
    cacheHitRate: cacheBefore && cacheAfter && lookups > 0 && cacheAfter.capacity > 0
      ? Math.round(((cacheAfter.hits - cacheBefore.hits) / lookups) * 1000) / 1000
      : undefined,
  };
  const other = Object.entries(run.statuses).filter(([code]) => !code.startsWith("2")).map(([code, n]) => `${code}:${n}`).join(" ");
  ctx.log(
    `  ${scenario} c${timing.connections} round ${round} ${target.label.padEnd(14)} ${
      String(run.okPerSecond).padStart(6)
    } ok/s  latency p50 ${run.latencyMs.p50} p90 ${run.latencyMs.p90} p99 ${run.latencyMs.p99} ms` +
      `${side.cpuUsPerRequest !== undefined ? `  cpu ${side.cpuUsPerRequest} µs/req` : ""}${
        side.cacheHitRate !== undefined ? `  hit rate ${side.cacheHitRate}` : ""
      }` +
      `${other ? `  non-2xx ${other}` : ""}${run.errors ? `  errors ${run.errors}` : ""}`,
  );
  return side;
}

function summarize(label: string, runs: SideRun[]): SideSummary {
  const statuses: Record<string, number> = {};
  for (const r of runs) for (const [code, n] of Object.entries(r.statuses)) statuses[code] = (statuses[code] ?? 0) + n;
  const cpu = runs.map((r) => r.cpuUsPerRequest).filter((x): x is number => x !== undefined);
  return {
    label,
    runs,
    okPerSecond: Math.round(median(runs.map((r) => r.okPerSecond))),
    latencyMs: {
      p50: median(runs.map((r) => r.latencyMs.p50)),
      p90: median(runs.map((r) => r.latencyMs.p90)),
      p99: median(runs.map((r) => r.latencyMs.p99)),
    },
    cpuUsPerRequest: cpu.length === runs.length && cpu.length > 0 ? round1(median(cpu)) : undefined,
    statuses,
    errors: runs.reduce((s, r) => s + r.errors, 0),
  };
}

/** Appends + fdatasyncs of one small record per second, in a loop on the disk the services write to. */
async function fdatasyncPerSecond(dir: string, seconds: number): Promise<number> {
  const samples = await appendFdatasyncSamples(dir, { warmups: 0, samplesMax: Number.MAX_SAFE_INTEGER, durationMsMax: seconds * 1000 });
  const totalMs = samples.reduce((sum, x) => sum + x, 0);
  return totalMs > 0 ? Math.round(samples.length / (totalMs / 1000)) : 0;
}

function frontendTarget(label: string, cluster: LocalSystem, frontend: RunningService): Target {
  return { label, port: frontend.port, pids: systemPids(cluster, frontend), frontendPort: frontend.port };
}

export async function runThroughput(ctx: BenchContext): Promise<ThroughputResult> {
  const params = ctx.quick ? quickParameters : fullParameters;
  ctx.log("starting the back end, frontends (cache on, cache off), a one-replica system and the reference servers");
  const startedMs = performance.now();
  // The one-replica system has its own catalog and frontend, so it can start alongside.
  const [[backend, cacheOn, cacheOff], [single, singleFrontend]] = await Promise.all([
    (async () => [await ctx.backend(), await ctx.frontend("cache-on"), await ctx.frontend("cache-off")] as const)(),
    (async () => {
      const cluster = await startBackend(ctx.scope, [1]);
      return [cluster, await startFrontend(ctx.scope, cluster, { name: "frontend-1-replica" })] as const;
    })(),
  ]);
  const runMeta = meta(backend.dataDir);
  const bodies = await captureBodies(cacheOn.port);
  const [refNode, refOurs] = await Promise.all([startReference(ctx.scope, "node", bodies), startReference(ctx.scope, "ours", bodies)]);
  ctx.log(`  started in ${((performance.now() - startedMs) / 1000).toFixed(1)} s`);
  const reference: Target = { label: "reference", port: refNode.port, pids: [refNode.pid], frontendPort: undefined };

  const sidesOf: Record<Scenario, Target[]> = {
    http_fixed: [{ label: "ours", port: refOurs.port, pids: [refOurs.pid], frontendPort: undefined }, { ...reference, label: "node:http" }],
    lookup_cached: [frontendTarget("system", backend, cacheOn), reference],
    lookup_uncached: [frontendTarget("system", backend, cacheOff), reference],
    trade: [frontendTarget("system", backend, cacheOn), reference, frontendTarget("1 replica", single, singleFrontend)],
    mix: [frontendTarget("system", backend, cacheOn), reference],
  };
  const runs = new Map<string, SideRun[]>();
  for (let round = 1; round <= params.rounds; round++) {
    for (const scenario of scenarios) {
      const sides = sidesOf[scenario];
      // Rotate which side goes first, so a slow drift of the machine does not favour one side.
      const order = sides.map((_, i) => sides[(i + round - 1) % sides.length] as Target);
      for (const target of order) {
        const key = `${scenario}/${target.label}`;
        runs.set(key, [...(runs.get(key) ?? []), await measureSide(ctx, target, scenario, timingOf(params, scenario), round)]);
      }
    }
  }
  const summaryOf = (scenario: Scenario, label: string): SideSummary => summarize(label, runs.get(`${scenario}/${label}`) ?? []);
  const comparisons: Comparison[] = scenarios.map((scenario) => {
    const [sys, ref] = sidesOf[scenario] as [Target, Target];
    const system = summaryOf(scenario, sys.label);
    const referenceSummary = summaryOf(scenario, ref.label);
    return {
      scenario,
      description: descriptions[scenario],
      connections: params.connections[scenario],
      system,
      reference: referenceSummary,
      ratio: ratio(system.okPerSecond, referenceSummary.okPerSecond),
      cpuRatio: system.cpuUsPerRequest && referenceSummary.cpuUsPerRequest
        ? ratio(referenceSummary.cpuUsPerRequest, system.cpuUsPerRequest)
        : undefined,
    };
  });
  const byScenario = (s: Scenario): Comparison => comparisons.find((c) => c.scenario === s) as Comparison;
  ctx.log(`  fdatasync loop on ${backend.dataDir} for ${params.fdatasyncS} s`);
  const syncs = await fdatasyncPerSecond(backend.dataDir, params.fdatasyncS);
  const sweep = await tradeSweep(ctx, params, sidesOf.trade);
  const singleSummary = summaryOf("trade", "1 replica");
  const replicated = byScenario("trade").system.okPerSecond;
  return {
    experiment: "throughput",
    meta: runMeta,
    parameters: params,
    comparisons,
    cachedOverUncached: ratio(byScenario("lookup_cached").system.okPerSecond, byScenario("lookup_uncached").system.okPerSecond),
    trades: {
      replicatedPerSecond: replicated,
      single: singleSummary,
      replicatedOverSingle: ratio(replicated, singleSummary.okPerSecond),
      fdatasyncPerSecond: syncs,
      tradesOverFdatasync: ratio(replicated, syncs),
      sweep,
    },
  };
}

/**
 * Trades/s as concurrent clients grow, against 3 replicas and against 1, the two sides
 * alternating which goes first. Batches hold the orders that waited, so this is the curve of
 * group commit filling up until the CPU is the limit.
 */
async function tradeSweep(ctx: BenchContext, params: Parameters, tradeSides: readonly Target[]): Promise<TradeSweepPoint[]> {
  const replicatedSide = tradeSides.find((t) => t.label === "system") as Target;
  const singleSide = tradeSides.find((t) => t.label === "1 replica") as Target;
  const points: TradeSweepPoint[] = [];
  for (const [i, connections] of params.tradeSweep.connections.entries()) {
    const timing = { connections, durationS: params.tradeSweep.durationS, warmupS: params.tradeSweep.warmupS };
    const order = i % 2 === 0 ? [replicatedSide, singleSide] : [singleSide, replicatedSide];
    const measured = new Map<Target, SideRun>();
    for (const side of order) measured.set(side, await measureSide(ctx, side, "trade", timing, 1));
    const replicated = measured.get(replicatedSide) as SideRun;
    const single = measured.get(singleSide) as SideRun;
    points.push({ connections, replicated, single, ratio: ratio(replicated.okPerSecond, single.okPerSecond) });
  }
  return points;
}
