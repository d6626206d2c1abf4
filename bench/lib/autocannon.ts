// autocannon, used programmatically (it ships no types, so the part used is typed here). One
// call = one timed run against one URL; the progress bar is drawn on a terminal, and the run
// is stoppable from its Scope (deadline, Ctrl-C). Results are reduced to what the report needs.

import type { EventEmitter } from "node:events";
import { createRequire } from "node:module";
import type { Scope } from "./scope.ts";

export type LoadRequest = {
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  body?: string;
  /** Called before every request; returns the request to send. */
  setupRequest?: (request: LoadRequest, context: object) => LoadRequest;
};

type AutocannonOptions = {
  url: string;
  connections: number;
  duration: number;
  pipelining: number;
  timeout: number;
  sampleInt: number;
  requests: LoadRequest[];
};

type AutocannonResult = {
  requests: { total: number };
  latency: { mean: number; p50: number; p90: number; p99: number; max: number };
  errors: number;
  timeouts: number;
  statusCodeStats: Record<string, { count: number }>;
  duration: number;
};

type Instance = EventEmitter & PromiseLike<AutocannonResult> & { stop(): void };
type Autocannon = ((options: AutocannonOptions) => Instance) & {
  track(instance: Instance, options: { renderProgressBar: boolean; renderResultsTable: boolean; progressBarString: string }): void;
};

const autocannon = createRequire(import.meta.url)("autocannon") as Autocannon;

/** A request that takes longer than this counts as a timeout (autocannon's `timeout`, seconds). */
const requestTimeoutS = 10;
/**
 * autocannon samples (and notices the end of a run) once per sampleInt; its default, 1 s,
 * would stretch sub-second runs (--quick) to a full second. Rates here use total ÷ duration,
 * so the sample interval changes nothing else.
 */
const sampleIntervalMs = (durationS: number): number => (durationS < 2 ? 250 : 1000);

export type LoadSpec = {
  readonly label: string;
  readonly url: string;
  readonly connections: number;
  readonly durationS: number;
  readonly requests: LoadRequest[];
};

export type LoadRun = {
  readonly requestsPerSecond: number;
  /** Only 2xx responses: for trades, the acknowledged orders per second. */
  readonly okPerSecond: number;
  readonly requests: number;
  readonly latencyMs: { readonly mean: number; readonly p50: number; readonly p90: number; readonly p99: number; readonly max: number };
  /** Responses by HTTP status, e.g. {"200": 9000, "409": 3}. */
  readonly statuses: Record<string, number>;
  /** Connection errors and timeouts (no HTTP response at all). */
  readonly errors: number;
  readonly timeouts: number;
  readonly durationS: number;
};

const round2 = (x: number): number => Math.round(x * 100) / 100;

export async function runLoad(scope: Scope, spec: LoadSpec): Promise<LoadRun> {
  const instance = autocannon({
    url: spec.url,
    connections: spec.connections,
    duration: spec.durationS,
    pipelining: 1,
    timeout: requestTimeoutS,
    sampleInt: sampleIntervalMs(spec.durationS),
    requests: spec.requests,
  });
  const owned = scope.own({ name: `autocannon ${spec.label}`, killNow: () => instance.stop() });
  if (process.stderr.isTTY) {
    autocannon.track(instance, {
      renderProgressBar: true,
      renderResultsTable: false,
      progressBarString: `  ${spec.label} [:bar] :percent`,
    });
  }
  try {
    const r = await instance;
    const statuses: Record<string, number> = {};
    let ok = 0;
    for (const [code, { count }] of Object.entries(r.statusCodeStats)) {
      statuses[code] = count;
      if (code.startsWith("2")) ok += count;
    }
    const seconds = Math.max(r.duration, 1e-3);
    return {
      requestsPerSecond: Math.round(r.requests.total / seconds),
      okPerSecond: Math.round(ok / seconds),
      requests: r.requests.total,
      latencyMs: { mean: round2(r.latency.mean), p50: r.latency.p50, p90: r.latency.p90, p99: r.latency.p99, max: r.latency.max },
      statuses,
      errors: r.errors,
      timeouts: r.timeouts,
      durationS: round2(seconds),
    };
  } finally {
    scope.disown(owned);
  }
}
