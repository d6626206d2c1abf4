// Test fixtures for the latency experiment's results: a point of the grid with every field set,
// so a test states only the fields it is about.

import type { LatencySummary } from "../../client/client.ts";
import type { LatencyPoint } from "../latency.ts";

/** A latency summary whose mean is its p50 (count 100, p99 twice the p50 unless given). */
export function latencySummary(p50Ms: number, p99Ms = p50Ms * 2, count = 100): LatencySummary {
  return { count, meanMs: p50Ms, p50Ms, p99Ms };
}

export const noServerTiming = { responses: 0, withHeader: 0, phases: [] };

/** A 1-session, cache-off, all-stocks point with nothing measured, `fields` replacing what they name. */
export function latencyPoint(fields: Partial<LatencyPoint>): LatencyPoint {
  return {
    sessions: 1,
    p: 0,
    cache: "off",
    stocks: "all",
    lookup: latencySummary(1),
    trade: latencySummary(1),
    serverTiming: { lookup: noServerTiming, trade: noServerTiming },
    orders: 0,
    verified: 0,
    rejected: 0,
    errors: 0,
    mismatches: 0,
    firstProblems: [],
    cacheHitRate: undefined,
    durationS: 1,
    cpuMsPerRequest: undefined,
    ...fields,
  };
}
