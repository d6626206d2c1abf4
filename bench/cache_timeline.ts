// Experiment 4, cache replacement in action: a fresh frontend with the default LRU of 5 (of
// 12 stocks) and CACHE_LOG=1, driven one request at a time: a scripted opening that fills the
// cache, reorders it with hits, forces evictions and shows a trade removing its stock, then
// seeded lookups skewed toward a few hot stocks. After every request the cached names (LRU
// order) are read from GET /health and the cache events from the frontend's log; a plain
// LRU model run beside it says whether the frontend evicted exactly what LRU should.

import { seededRandom } from "../client/client.ts";
import { initialStocks } from "../catalog/initial_stocks.ts";
import { withClient } from "../test/support/http.ts";
import { parseLogLine } from "../lib/log.ts";
import { sleep } from "../lib/sleep.ts";
import type { BenchContext } from "./lib/context.ts";
import { meta } from "./lib/machine.ts";
import type { Meta } from "./lib/machine.ts";
import { health, startFrontend } from "./lib/systems.ts";
import type { CacheStatsBody } from "./lib/systems.ts";

const capacity = 5;
const stockNames = initialStocks.map((s) => s.name);
/** Random lookups go to these stocks with probability hotShare. */
const hotStocks = stockNames.slice(0, 3);
const hotShare = 0.6;
/** How long to wait for a request's cache event to come through the frontend's stderr. */
const eventWaitMs = 3_000;
/** Raw CACHE_LOG lines kept in the result. */
const rawLinesMax = 60;

export type Step =
  | { readonly kind: "lookup"; readonly name: string }
  | { readonly kind: "trade"; readonly name: string };

export type CacheEventLine = { readonly kind: string; readonly name: string | undefined; readonly fields: Record<string, string> };

export type TimelineStep = {
  readonly index: number;
  readonly request: Step;
  readonly status: number;
  /** hit, miss (filled), or trade. */
  readonly outcome: "hit" | "miss" | "trade";
  readonly evicted: string[];
  /** Cached names after the request, least recently used first (from /health). */
  readonly keys: string[];
  /** What a textbook LRU of the same capacity holds after the same requests. */
  readonly modelKeys: string[];
  readonly events: CacheEventLine[];
};

export type CacheTimelineResult = {
  readonly experiment: "cache_timeline";
  readonly meta: Meta;
  readonly parameters: {
    readonly capacity: number;
    readonly stocks: readonly string[];
    readonly randomSteps: number;
    readonly hotStocks: readonly string[];
    readonly hotShare: number;
  };
  readonly steps: TimelineStep[];
  readonly final: CacheStatsBody;
  /** Evictions counted by /health equal the evict events logged, and every step matches the model. */
  readonly modelAgrees: boolean;
  readonly evictionsLogged: number;
  readonly rawLog: string[];
};

/** Fill the cache, reorder it with hits, evict the least recently used, trade one cached stock. */
function scriptedSteps(): Step[] {
  const [a, b, c, d, e, f, g] = stockNames as [string, string, string, string, string, string, string];
  const look = (name: string): Step => ({ kind: "lookup", name });
  return [
    look(a),
    look(b),
    look(c),
    look(d),
    look(e),
    look(a),
    look(b),
    look(f),
    look(g),
    look(a),
    { kind: "trade", name: a },
    look(a),
    look(c),
  ];
}

function randomSteps(count: number, seed: number): Step[] {
  const random = seededRandom(seed);
  const cold = stockNames.filter((n) => !hotStocks.includes(n));
  return Array.from({ length: count }, () => {
    const pool = random() < hotShare ? hotStocks : cold;
    return { kind: "lookup", name: pool[Math.floor(random() * pool.length)] as string };
  });
}

/** A `cache <kind>` record as lib/log.ts writes it (one JSON object per line). */
export function parseCacheLine(line: string): CacheEventLine | undefined {
  const record = parseLogLine(line);
  const match = /^cache (hit|miss|fill|evict|invalidate|drop|clear|reset)$/.exec(String(record?.["msg"]));
  if (!record || !match) return undefined;
  const fields: Record<string, string> = {};
  for (const [key, value] of Object.entries(record)) if (value !== null) fields[key] = String(value);
  return { kind: match[1] as string, name: fields["name"], fields };
}

/** A textbook LRU: the model the frontend's cache must agree with. */
function modelStep(keys: string[], step: Step): { keys: string[]; evicted: string[] } {
  const next = keys.filter((k) => k !== step.name);
  if (step.kind === "trade") return { keys: next, evicted: [] };
  next.push(step.name);
  return { keys: next.slice(Math.max(0, next.length - capacity)), evicted: next.slice(0, Math.max(0, next.length - capacity)) };
}

async function waitFor(events: CacheEventLine[], from: number, found: (e: CacheEventLine) => boolean): Promise<void> {
  const deadline = Date.now() + eventWaitMs;
  while (!events.slice(from).some(found)) {
    if (Date.now() > deadline) throw new Error(`no matching cache event in the frontend log within ${eventWaitMs} ms`);
    await sleep(5);
  }
}

export async function runCacheTimeline(ctx: BenchContext): Promise<CacheTimelineResult> {
  const backend = await ctx.backend();
  const runMeta = meta(backend.dataDir);
  const events: CacheEventLine[] = [];
  const rawLog: string[] = [];
  const frontend = await startFrontend(ctx.scope, backend, {
    name: "frontend-cache-log",
    env: { CACHE_SIZE: String(capacity), CACHE_LOG: "1", LOG_LEVEL: "info" },
    onLine: (line) => {
      const event = parseCacheLine(line);
      if (!event) return;
      events.push(event);
      if (rawLog.length < rawLinesMax) rawLog.push(line);
    },
  });
  const base = `http://127.0.0.1:${frontend.port}`;
  const randomCount = ctx.quick ? 6 : 36;
  const plan = [...scriptedSteps(), ...randomSteps(randomCount, ctx.seed)];
  const steps: TimelineStep[] = [];
  let model: string[] = [];
  let agrees = true;
  // One keep-alive client for the whole plan; any answer but a 200 fails the experiment.
  await withClient(base, async (client) => {
    for (const [index, request] of plan.entries()) {
      const from = events.length;
      const reply = request.kind === "lookup"
        ? await client.lookup(request.name)
        : await client.trade({ name: request.name, quantity: 1, type: "sell" });
      // The frontend logs a lookup's hit, or its fill (after any eviction), before it answers.
      await waitFor(
        events,
        from,
        request.kind === "trade"
          ? (e) => e.kind === "drop" && e.name === request.name
          : (e) => (e.kind === "hit" || e.kind === "fill") && e.name === request.name,
      );
      const mine = events.slice(from);
      const stats = (await health(frontend.port)).cache;
      const next = modelStep(model, request);
      model = next.keys;
      const evicted = mine.filter((e) => e.kind === "evict").map((e) => e.name ?? "?");
      const same = JSON.stringify(stats.keys) === JSON.stringify(model) && JSON.stringify(evicted) === JSON.stringify(next.evicted);
      agrees &&= same;
      steps.push({
        index,
        request,
        status: reply.status,
        outcome: request.kind === "trade" ? "trade" : mine.some((e) => e.kind === "hit") ? "hit" : "miss",
        evicted,
        keys: stats.keys,
        modelKeys: model,
        events: mine,
      });
    }
  });
  const final = (await health(frontend.port)).cache;
  const evictionsLogged = events.filter((e) => e.kind === "evict").length;
  ctx.log(
    `  ${steps.length} requests: ${final.hits} hits, ${final.misses} misses, ${final.evictions} evictions (${evictionsLogged} logged); ` +
      `LRU model agrees: ${agrees && evictionsLogged === final.evictions}; cached now [${final.keys.join(", ")}]`,
  );
  return {
    experiment: "cache_timeline",
    meta: runMeta,
    parameters: { capacity, stocks: stockNames, randomSteps: randomCount, hotStocks, hotShare },
    steps,
    final,
    modelAgrees: agrees && evictionsLogged === final.evictions,
    evictionsLogged,
    rawLog,
  };
}
