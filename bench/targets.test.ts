// The targets table of the report: a figure at its limit meets it and one past it misses, the
// 5-session targets read the one point they are stated for, trades/s counts only at 256
// clients, and a missed target shows the reason recorded for it.

import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { LatencyPoint, LatencyResult, Profile } from "./latency.ts";
import type { ThroughputResult } from "./throughput.ts";
import { targetRows, targetsSection } from "./targets.ts";
import type { TargetId, TargetRow } from "./targets.ts";
import { latencyPoint, latencySummary, noServerTiming } from "./lib/latency_fixture.ts";

const summary = latencySummary;
const noTiming = noServerTiming;

function profile(p50Ms: number, floorMs: number): Profile {
  return { from: "test", latency: summary(p50Ms), floorMs, overFloor: p50Ms / floorMs, serverTiming: noTiming };
}

function point(sessions: number, p: number, cache: "on" | "off", lookupP50: number, tradeP50: number, tradeP99: number): LatencyPoint {
  return latencyPoint({ sessions, p, cache, lookup: summary(lookupP50), trade: summary(tradeP50, tradeP99) });
}

/** Only the fields the targets read; the rest of a real result does not matter to them. */
function latency(oneSession: LatencyResult["oneSession"], points: LatencyPoint[]): LatencyResult {
  return { oneSession, points } as unknown as LatencyResult;
}

function throughput(tradeConnections: number, tradesPerSecond: number, sweep: [number, number][]): ThroughputResult {
  const comparison = (scenario: string, ratio: number, cpuRatio: number) => ({
    scenario,
    connections: 32,
    ratio,
    cpuRatio,
    system: { okPerSecond: 1, cpuUsPerRequest: 1 },
    reference: { okPerSecond: 1, cpuUsPerRequest: 1 },
  });
  return {
    parameters: { connections: { trade: tradeConnections } },
    comparisons: [comparison("lookup_uncached", 0.5, 0.1), comparison("lookup_cached", 1, 1.19), comparison("http_fixed", 1, 1.5)],
    trades: {
      replicatedPerSecond: tradesPerSecond,
      sweep: sweep.map(([connections, ok]) => ({ connections, replicated: { okPerSecond: ok } })),
    },
  } as unknown as ThroughputResult;
}

const byId = (rows: TargetRow[]): Record<TargetId, TargetRow> =>
  Object.fromEntries(rows.map((r) => [r.id, r])) as Record<TargetId, TargetRow>;

const targets = suite("issue 11 targets");

targets("a figure at its limit meets the target, one past it misses", () => {
  const l = latency(
    { trade: profile(2, 1), lookupUncached: profile(0.41, 0.2), lookupCached: profile(0.15, 0.1) },
    [point(5, 0.5, "on", 0.5, 2.5, 10), point(5, 0.5, "off", 9, 9, 9), point(1, 0.5, "on", 9, 9, 9)],
  );
  const rows = byId(targetRows(throughput(256, 10_000, []), l));
  assert.is(rows.trade1.met, true);
  assert.is(rows.lookupUncached1.met, false);
  assert.is(rows.lookupCached1.met, true);
  assert.is(rows.lookup5.met, true, "read from the 5-session, p = 0.5, cache-on point, not the others");
  assert.is(rows.trade5.met, true);
  assert.is(rows.tradeTail5.met, true, "p99 = 4 × p50");
  assert.is(rows.lookupTail5.met, true);
  assert.is(rows.uncachedVsNode.met, true);
  assert.is(rows.cachedVsNode.met, false, "1.19 < 1.2 in CPU per request");
  assert.is(rows.fixedVsNode.met, true);
  assert.is(rows.trades256.met, true);
  const slower = byId(targetRows(throughput(256, 9_999, []), latency(l.oneSession, [point(5, 0.5, "on", 0.51, 2.6, 10.3)])));
  assert.is(slower.trades256.met, false);
  assert.is(slower.lookup5.met, false);
  assert.is(slower.trade5.met, false);
  assert.is(slower.tradeTail5.met, true, "10.3 / 2.6 < 4");
});

targets("trades/s counts only at 256 clients: the headline, else the sweep, else not measured", () => {
  assert.is(byId(targetRows(throughput(16, 99_999, [[4, 50_000], [16, 99_999]]), undefined)).trades256.met, undefined);
  const fromSweep = byId(targetRows(throughput(64, 1, [[64, 1], [256, 12_000]]), undefined)).trades256;
  assert.is(fromSweep.met, true);
  assert.is(fromSweep.measured, "12,000");
});

targets("without the experiments every target is not measured, and says why", () => {
  for (const row of targetRows(undefined, undefined)) {
    assert.is(row.met, undefined);
    assert.ok(row.from.endsWith("did not run or failed"), row.from);
  }
});

targets("a missed target shows its recorded reason, a met one none", () => {
  const rows = targetRows(throughput(256, 5_000, []), undefined);
  const text = targetsSection(rows, { trades256: "CPU bound: 200 µs per trade over all processes", fixedVsNode: "never shown" }).join("\n");
  assert.match(text, /\*\*missed\*\* \| throughput: trade, 3 replicas \| CPU bound: 200 µs per trade over all processes \|/);
  assert.not.match(text, /never shown/);
  assert.match(text, /2 of 4 measured met/);
});

targets.run();
