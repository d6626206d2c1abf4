// The latency and throughput targets of issue 11, each beside the figure this run measured for
// it (from the latency and throughput experiments), met or missed, with the reason for a miss
// that report.ts records. Pure: no measurement happens here.

import type { LatencyPoint, LatencyResult } from "./latency.ts";
import type { Scenario, ThroughputResult } from "./throughput.ts";
import { ms, n, table, times } from "./lib/markdown.ts";

export const targetIds = [
  "trade1",
  "lookupUncached1",
  "lookupCached1",
  "lookup5",
  "trade5",
  "lookupTail5",
  "tradeTail5",
  "uncachedVsNode",
  "cachedVsNode",
  "fixedVsNode",
  "trades256",
] as const;
export type TargetId = typeof targetIds[number];

type Figure = { readonly value: number; readonly shown: string; readonly from: string } | { readonly missing: string };

type Target = {
  readonly id: TargetId;
  readonly text: string;
  readonly op: "≤" | "≥";
  readonly limit: number;
  readonly measure: (t: ThroughputResult | undefined, l: LatencyResult | undefined) => Figure;
};

export type TargetRow = {
  readonly id: TargetId;
  readonly text: string;
  readonly measured: string;
  readonly from: string;
  /** undefined: not measured in this run. */
  readonly met: boolean | undefined;
};

/** The session count, p and cache mode the 5-session targets are stated for. */
const loaded = { sessions: 5, p: 0.5, cache: "on" } as const;
/** Trades/s is stated at this many concurrent clients. */
const tradeClients = 256;

const noLatency: Figure = { missing: "no latency result: the experiment did not run or failed" };
const noThroughput: Figure = { missing: "no throughput result: the experiment did not run or failed" };

function loadedPoint(l: LatencyResult): LatencyPoint | undefined {
  return l.points.find((pt) => pt.stocks === "all" && pt.sessions === loaded.sessions && pt.p === loaded.p && pt.cache === loaded.cache);
}

const loadedFrom = `${loaded.sessions} sessions, p = ${loaded.p}, cache ${loaded.cache}`;

function p50Of(l: LatencyResult | undefined, kind: "lookup" | "trade"): Figure {
  if (!l) return noLatency;
  const pt = loadedPoint(l);
  if (!pt || pt[kind].count === 0) return { missing: `no ${kind}s at ${loadedFrom}` };
  return { value: pt[kind].p50Ms, shown: `${ms(pt[kind].p50Ms)} ms`, from: `latency: ${loadedFrom}` };
}

function tailOf(l: LatencyResult | undefined, kind: "lookup" | "trade"): Figure {
  if (!l) return noLatency;
  const pt = loadedPoint(l);
  if (!pt || pt[kind].count === 0) return { missing: `no ${kind}s at ${loadedFrom}` };
  const r = pt[kind].p99Ms / pt[kind].p50Ms;
  return { value: r, shown: `${times(r)} (p99 ${ms(pt[kind].p99Ms)} ms)`, from: `latency: ${loadedFrom}` };
}

function oneSession(l: LatencyResult | undefined, name: "lookupUncached" | "lookupCached"): Figure {
  if (!l) return noLatency;
  const p = l.oneSession[name];
  if (p.latency.count === 0) return { missing: "no samples" };
  return { value: p.latency.p50Ms, shown: `${ms(p.latency.p50Ms)} ms (${times(p.overFloor)} its floor)`, from: `latency: ${p.from}` };
}

function versusNode(t: ThroughputResult | undefined, scenario: Scenario, what: "rate" | "cpu"): Figure {
  if (!t) return noThroughput;
  const c = t.comparisons.find((x) => x.scenario === scenario);
  if (!c) return { missing: `no ${scenario} comparison` };
  const from = `throughput: ${scenario}, ${c.connections} connections`;
  if (what === "rate") {
    return { value: c.ratio, shown: `${c.ratio}× (${n(c.system.okPerSecond)} vs ${n(c.reference.okPerSecond)} req/s)`, from };
  }
  if (c.cpuRatio === undefined) return { missing: "no CPU figures (no /proc)" };
  return {
    value: c.cpuRatio,
    shown: `${c.cpuRatio}× (${c.system.cpuUsPerRequest} vs ${c.reference.cpuUsPerRequest} µs/request)`,
    from,
  };
}

function tradesAt256(t: ThroughputResult | undefined): Figure {
  if (!t) return noThroughput;
  if (t.parameters.connections.trade === tradeClients) {
    return { value: t.trades.replicatedPerSecond, shown: n(t.trades.replicatedPerSecond), from: "throughput: trade, 3 replicas" };
  }
  const pt = (t.trades.sweep ?? []).find((x) => x.connections === tradeClients);
  if (pt) return { value: pt.replicated.okPerSecond, shown: n(pt.replicated.okPerSecond), from: "throughput: trade sweep, 3 replicas" };
  return { missing: `not measured at ${tradeClients} clients in this run` };
}

const targets: readonly Target[] = [
  {
    id: "trade1",
    text: "1 session: trade p50 ≤ 2× the floor of the same run",
    op: "≤",
    limit: 2,
    measure: (_t, l) => {
      if (!l) return noLatency;
      const p = l.oneSession.trade;
      if (p.latency.count === 0) return { missing: "no trades" };
      return {
        value: p.overFloor,
        shown: `${times(p.overFloor)} (${ms(p.latency.p50Ms)} ms; floor ${ms(p.floorMs)} ms${
          p.wokenFloorMs === undefined ? "" : `; ${times(p.overWokenFloor ?? 0)} the woken floor, ${ms(p.wokenFloorMs)} ms`
        })`,
        from: `latency: ${p.from}`,
      };
    },
  },
  {
    id: "lookupUncached1",
    text: "1 session: uncached lookup p50 ≤ 0.4 ms",
    op: "≤",
    limit: 0.4,
    measure: (_t, l) => oneSession(l, "lookupUncached"),
  },
  {
    id: "lookupCached1",
    text: "1 session: cached lookup p50 ≤ 0.15 ms",
    op: "≤",
    limit: 0.15,
    measure: (_t, l) => oneSession(l, "lookupCached"),
  },
  { id: "lookup5", text: `${loadedFrom}: lookup p50 ≤ 0.5 ms`, op: "≤", limit: 0.5, measure: (_t, l) => p50Of(l, "lookup") },
  { id: "trade5", text: `${loadedFrom}: trade p50 ≤ 2.5 ms`, op: "≤", limit: 2.5, measure: (_t, l) => p50Of(l, "trade") },
  { id: "lookupTail5", text: `${loadedFrom}: lookup p99 ≤ 4× p50`, op: "≤", limit: 4, measure: (_t, l) => tailOf(l, "lookup") },
  { id: "tradeTail5", text: `${loadedFrom}: trade p99 ≤ 4× p50`, op: "≤", limit: 4, measure: (_t, l) => tailOf(l, "trade") },
  {
    id: "uncachedVsNode",
    text: "uncached lookup throughput ≥ 0.5× bare node:http on the same bytes",
    op: "≥",
    limit: 0.5,
    measure: (t) => versusNode(t, "lookup_uncached", "rate"),
  },
  {
    id: "cachedVsNode",
    text: "cached lookup ≥ 1.2× bare node:http in CPU per request",
    op: "≥",
    limit: 1.2,
    measure: (t) => versusNode(t, "lookup_cached", "cpu"),
  },
  {
    id: "fixedVsNode",
    text: "fixed route through our HTTP server ≥ 1.5× bare node:http in CPU per request",
    op: "≥",
    limit: 1.5,
    measure: (t) => versusNode(t, "http_fixed", "cpu"),
  },
  {
    id: "trades256",
    text: `≥ ${n(10_000)} acknowledged, fsynced, 3-way-replicated trades/s at ${tradeClients} clients`,
    op: "≥",
    limit: 10_000,
    measure: tradesAt256,
  },
];

export function targetRows(t: ThroughputResult | undefined, l: LatencyResult | undefined): TargetRow[] {
  return targets.map((target) => {
    const f = target.measure(t, l);
    if ("missing" in f) return { id: target.id, text: target.text, measured: "–", from: f.missing, met: undefined };
    const met = target.op === "≤" ? f.value <= target.limit : f.value >= target.limit;
    return { id: target.id, text: target.text, measured: f.shown, from: f.from, met };
  });
}

/** `reasons`: a one-line measured reason per missed target, shown beside it. */
export function targetsSection(rows: readonly TargetRow[], reasons: Readonly<Partial<Record<TargetId, string>>>): string[] {
  const status = (r: TargetRow): string => (r.met === undefined ? "not measured" : r.met ? "met" : "**missed**");
  const reason = (r: TargetRow): string => (r.met === false ? reasons[r.id] ?? "no reason recorded yet" : "");
  const met = rows.filter((r) => r.met === true).length;
  const measured = rows.filter((r) => r.met !== undefined).length;
  return [
    `The targets of issue 11 (latency at the floor), on this machine, each beside this run's figure: ${met} of ${measured} measured met.`,
    "",
    ...table(
      ["target", "measured", "status", "measured in", "why missed"],
      rows.map((r) => [r.text, r.measured, status(r), r.from, reason(r)]),
    ),
  ];
}
