// Experiment 2, the original evaluation: latency seen by 5 concurrent client sessions (the
// load-and-verify client's own logic, client/client.ts) as the trade probability p grows,
// with the frontend's cache on (the default LRU of 5 of the 12 stocks) and off (the shared
// frontends of lib/context.ts). Per p: mean,
// p50 and p99 of lookups and of trades, and the client's verification of every order it
// placed. Both frontends run in front of the same back end and the runs alternate, so drift
// of a shared machine hits both alike.

import { defaultStockNames, runClient } from "../client/client.ts";
import type { LatencySummary } from "../client/client.ts";
import type { BenchContext } from "./lib/context.ts";
import { meta } from "./lib/machine.ts";
import type { Meta } from "./lib/machine.ts";
import { cacheSizeDefault } from "./lib/context.ts";
import { health } from "./lib/systems.ts";

export type CacheMode = "on" | "off";

export type Parameters = {
  readonly sessions: number;
  readonly ps: readonly number[];
  readonly iterationsPerSession: number;
  readonly warmupIterations: number;
  readonly cacheSizeOn: number;
  readonly stocks: number;
};

const ps = [0, 0.2, 0.4, 0.6, 0.8] as const;
const sessions = 5;
const cacheSizeOn = cacheSizeDefault;
const fullParameters: Parameters = {
  sessions,
  ps,
  iterationsPerSession: 300,
  warmupIterations: 30,
  cacheSizeOn,
  stocks: defaultStockNames.length,
};
const quickParameters: Parameters = {
  sessions,
  ps,
  iterationsPerSession: 10,
  warmupIterations: 0,
  cacheSizeOn,
  stocks: defaultStockNames.length,
};

export type LatencyPoint = {
  readonly p: number;
  readonly cache: CacheMode;
  readonly lookup: LatencySummary;
  readonly trade: LatencySummary;
  /** Reading back every placed order at the end of the run. */
  readonly query: LatencySummary;
  readonly orders: number;
  /** 409 insufficient quantity: an expected answer, not an error. */
  readonly rejected: number;
  readonly errors: number;
  readonly mismatches: number;
  readonly firstProblems: string[];
  readonly cacheHitRate: number | undefined;
  readonly durationS: number;
};

export type LatencyVsPResult = {
  readonly experiment: "latency_vs_p";
  readonly meta: Meta;
  readonly parameters: Parameters;
  readonly points: LatencyPoint[];
};

async function measure(
  ctx: BenchContext,
  port: number,
  cache: CacheMode,
  p: number,
  iterations: number,
  seed: number,
): Promise<LatencyPoint> {
  const before = (await health(port)).cache;
  const started = performance.now();
  const r = await runClient({ host: "127.0.0.1", port, p, iterations, sessions, seed, stocks: defaultStockNames });
  const durationS = Math.round((performance.now() - started) / 100) / 10;
  const after = (await health(port)).cache;
  const lookups = after.hits - before.hits + (after.misses - before.misses);
  const point: LatencyPoint = {
    p,
    cache,
    lookup: r.latency.lookup,
    trade: r.latency.trade,
    query: r.latency.query,
    orders: r.orders,
    rejected: r.rejected,
    errors: r.errors.length,
    mismatches: r.mismatches.length,
    firstProblems: [...r.errors, ...r.mismatches].slice(0, 5),
    cacheHitRate: cache === "on" && lookups > 0 ? Math.round(((after.hits - before.hits) / lookups) * 1000) / 1000 : undefined,
    durationS,
  };
  const f = (s: LatencySummary): string => `mean ${s.meanMs.toFixed(2)} p50 ${s.p50Ms.toFixed(2)} p99 ${s.p99Ms.toFixed(2)} ms`;
  ctx.log(
    `  p=${p.toFixed(1)} cache ${cache.padEnd(3)} lookup ${f(r.latency.lookup)} | trade ${
      f(r.latency.trade)
    } (n=${r.latency.trade.count})` +
      `${point.cacheHitRate !== undefined ? ` | hit rate ${point.cacheHitRate}` : ""}${
        point.errors + point.mismatches > 0 ? ` | ${point.errors} errors ${point.mismatches} mismatches` : ""
      }`,
  );
  return point;
}

export async function runLatencyVsP(ctx: BenchContext): Promise<LatencyVsPResult> {
  const params = ctx.quick ? quickParameters : fullParameters;
  const backend = await ctx.backend();
  const runMeta = meta(backend.dataDir);
  const frontends = { on: await ctx.frontend("cache-on"), off: await ctx.frontend("cache-off") };
  // Every run needs its own seed: the client derives each order's Idempotency-Key from it, and
  // a run that reused a seed would replay the same keys and be answered from the log, untraded.
  let run = 0;
  const seed = (): number => ctx.seed * 1000 + run++;
  if (params.warmupIterations > 0) {
    for (const f of Object.values(frontends)) {
      await runClient({
        host: "127.0.0.1",
        port: f.port,
        p: 0.5,
        iterations: params.warmupIterations,
        sessions,
        seed: seed(),
        stocks: defaultStockNames,
      });
    }
  }
  const points: LatencyPoint[] = [];
  for (const [i, p] of params.ps.entries()) {
    // Alternate which cache mode runs first at each p.
    const modes: CacheMode[] = i % 2 === 0 ? ["on", "off"] : ["off", "on"];
    for (const cache of modes) {
      points.push(await measure(ctx, frontends[cache].port, cache, p, params.iterationsPerSession, seed()));
    }
  }
  points.sort((a, b) => (a.cache === b.cache ? a.p - b.p : a.cache === "on" ? -1 : 1));
  return { experiment: "latency_vs_p", meta: runMeta, parameters: params, points };
}
