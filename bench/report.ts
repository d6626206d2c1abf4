// The evaluation report: turns the results of `npm run bench` into <out>/evaluation.md with
// SVG plots beside it (GitHub renders both), prints the headline figures, and checks that
// what it wrote is complete. Pure formatting: no measurement happens here.

import * as fs from "node:fs";
import * as path from "node:path";
import type { CacheTimelineResult } from "./cache_timeline.ts";
import type { FailoverResult } from "./failover.ts";
import type { LatencyResult } from "./latency.ts";
import { latencySection } from "./latency_report.ts";
import type { Meta } from "./lib/machine.ts";
import type { SideRun, ThroughputResult } from "./throughput.ts";
import { cacheTimelineChart, failoverChart, latencyChart, throughputChart } from "./lib/charts.ts";
import { ms, n, table, times } from "./lib/markdown.ts";
import { targetRows, targetsSection } from "./targets.ts";
import type { TargetId, TargetRow } from "./targets.ts";
import { chaosSection, protocolSection, readChaos } from "./chaos_report.ts";
import type { ChaosDocument } from "./chaos_report.ts";

export const experimentNames = ["throughput", "latency", "failover", "cache_timeline"] as const;
export type ExperimentName = typeof experimentNames[number];

type ResultOf = {
  throughput: ThroughputResult;
  latency: LatencyResult;
  failover: FailoverResult;
  cache_timeline: CacheTimelineResult;
};
export type FailedExperiment = { readonly experiment: ExperimentName; readonly failed: true; readonly error: string; readonly meta: Meta };
export type ExperimentResult = ResultOf[ExperimentName] | FailedExperiment;

export type Evaluation = {
  readonly generatedAt: string;
  readonly quick: boolean;
  readonly seed: number;
  readonly command: string;
  readonly durationS: number;
  readonly meta: Meta;
  readonly experiments: { [K in ExperimentName]?: ResultOf[K] | FailedExperiment };
};

const svgFiles: Record<ExperimentName, string> = {
  throughput: "evaluation_throughput.svg",
  latency: "evaluation_latency.svg",
  failover: "evaluation_failover.svg",
  cache_timeline: "evaluation_cache.svg",
};
const sectionTitles: Record<ExperimentName, string> = {
  throughput: "## 1. Throughput against a reference server",
  latency: "## 2. Latency: 1 and 5 sessions, p, cache on and off, against the floor",
  failover: "## 3. Failover under load",
  cache_timeline: "## 4. Cache replacement in action",
};
/** The failover goal: the longest time with no trade after a leader dies. */
const failoverGapGoalMs = 500;
/** The trade throughput the replication issue asks for (3 replicas, fsync everywhere). */
const tradesGoalPerSecond = 3_000;

export function setResult(ev: Evaluation["experiments"], name: ExperimentName, result: ExperimentResult): void {
  (ev as Record<string, ExperimentResult>)[name] = result;
}

function done<K extends ExperimentName>(ev: Evaluation, name: K): ResultOf[K] | undefined {
  const r = ev.experiments[name];
  return r === undefined || "failed" in r ? undefined : (r as ResultOf[K]);
}

/**
 * A one-line measured reason for each target of issue 11 that the committed report misses
 * (a profile, a Server-Timing phase, a floor ratio): filled in by whoever regenerates the report,
 * and shown beside the target. A target that is met shows none.
 */
const targetMissReasons: Partial<Record<TargetId, string>> = {
  trade1: "every hop of one session's trade reaches a process that sat idle and runs its part cold: the woken floor (the same " +
    "round trips and fdatasyncs, each after 2 ms idle, no code of ours in them) is several times the hot floor, and the " +
    "trade's p50 is close to the CPU the services spend on it one process at a time (Where the time goes, CPU row); a " +
    "profile of that CPU (perf, per process) finds no hot spot of ours: it is spread over grpc-js, Node streams and the " +
    "kernel's TCP, with the protocol code a small part",
  lookupCached1: "the frontend answers a hit in the same turn (Server-Timing `total` is microseconds); the rest is the client " +
    "and two processes waking on 2 shared cores, which the in-process HTTP floor (one event loop) does not pay",
  lookupUncached1: "the frontend's own part is near the floor (Server-Timing `total`); the catalog's stream round trip in " +
    "the system is several times the in-process stream floor (two processes waking on 2 shared cores), and the client adds its own",
  lookup5: "with p = 0.5 each trade costs the services milliseconds of CPU (CPU per request, Every point) and five sessions " +
    "make small batches, so the 2 cores are nearly always busy with the trade path and a lookup waits for a core",
  trade5: "as for one session, plus five sessions' trades sharing the 2 cores (CPU per request, Every point)",
  lookupTail5: "a lookup that lands behind a catalog commit or a burst of fsync completions on the 2 shared cores waits for it",
  cachedVsNode: "per request the frontend does more than the bare server: an X-Request-Id, the Server-Timing header, the " +
    "request-latency histogram (≈2 µs measured) and the cache's subscription check; the fixed route shows the HTTP layer alone",
  fixedVsNode: "every response carries an X-Request-Id and is counted in the request-latency histogram, which the bare " +
    "server does not do; on a quiet machine, by hand (autocannon, 32 connections, CPU of the server process), the same " +
    "route measured 1.30–1.33×, so much of the gap to the target is the load of a shared machine",
  trades256: "CPU-bound on 2 cores shared with the load generator: a profile at 256 clients (perf, CPU of each process per " +
    "trade) found ≈130 µs in the frontend, ≈80 in the leader, ≈45 in the catalog and ≈35 in each follower, spread over HTTP " +
    "parsing, Node streams, grpc-js and the kernel's TCP with no hot spot; overlapping several catalog calls (prototyped, " +
    "and safe in the simulator) measured ≈1.1×, within noise, because the bound is CPU, not round trips",
};

/** The issue's targets, from the throughput and latency results (either may be missing). */
function targetsOf(ev: Evaluation): TargetRow[] {
  return targetRows(done(ev, "throughput"), done(ev, "latency"));
}

/** The figures a reader looks at first, as [figure, value, how to read it]; `targets` is targetsOf(ev). */
function headlineRows(ev: Evaluation, targets: readonly TargetRow[]): [string, string, string][] {
  const rows: [string, string, string][] = [];
  const t = done(ev, "throughput");
  if (t) {
    const c = (s: string) => t.comparisons.find((x) => x.scenario === s);
    const add = (s: string, label: string, how: string) => {
      const x = c(s);
      if (x) {
        rows.push([
          label,
          `${x.ratio}×`,
          `${n(x.system.okPerSecond)} vs ${n(x.reference.okPerSecond)} req/s${
            x.cpuRatio ? ` (CPU per request: ${x.cpuRatio}×)` : ""
          }; ${how}`,
        ]);
      }
    };
    add("http_fixed", "HTTP server vs node:http, fixed JSON route", "above 1: the hand-written server is faster");
    add("lookup_cached", "cached lookup vs reference", "frontend + cache");
    add("lookup_uncached", "uncached lookup vs reference", "frontend + gRPC to the catalog");
    add("trade", "trade vs reference", "frontend + catalog + 3 replicas, fsync on the catalog and a majority");
    add("mix", "mix vs reference", "1 trade : 4 lookups");
    rows.push(["cached ÷ uncached lookup", `${t.cachedOverUncached}×`, "what the cache buys"]);
    rows.push([
      "trades/s ÷ fdatasync/s",
      `${t.trades.tradesOverFdatasync}×`,
      `${n(t.trades.replicatedPerSecond)} trades/s vs ${
        n(t.trades.fdatasyncPerSecond)
      } fdatasync/s of one file; above 1 only through group commit`,
    ]);
    rows.push([
      "3 replicas ÷ 1 replica (trades)",
      `${t.trades.replicatedOverSingle}×`,
      `${n(t.trades.replicatedPerSecond)} vs ${
        n(t.trades.single.okPerSecond)
      } trades/s at ${t.parameters.connections.trade} clients: the cost of replication to a majority`,
    ]);
    rows.push([
      `trades/s, 3 replicas, at ${t.parameters.connections.trade} clients`,
      n(t.trades.replicatedPerSecond),
      `goal ≥ ${n(tradesGoalPerSecond)}; acknowledged once fsynced on the catalog and on a majority of the 3 replicas`,
    ]);
    if ((t.trades.sweep ?? []).length > 0) {
      rows.push([
        "trades/s by clients, 3 replicas (1 replica)",
        t.trades.sweep.map((pt) => `${pt.connections}: ${n(pt.replicated.okPerSecond)}`).join(", "),
        `1 replica: ${t.trades.sweep.map((pt) => `${pt.connections}: ${n(pt.single.okPerSecond)}`).join(", ")}; batches grow with clients`,
      ]);
    }
  }
  const l = done(ev, "latency");
  if (l) {
    const one = l.oneSession;
    rows.push([
      "1 session: trade p50 ÷ floor",
      times(one.trade.overFloor),
      `${ms(one.trade.latency.p50Ms)} ms vs a floor of ${
        ms(one.trade.floorMs)
      } ms measured in the same run (HTTP + 3 stream round trips + 2 fdatasyncs)${
        one.trade.wokenFloorMs === undefined
          ? ""
          : `; ${times(one.trade.overWokenFloor ?? 0)} the woken floor of ${
            ms(one.trade.wokenFloorMs)
          } ms (the same round trips, each waking an idle process)`
      }`,
    ]);
    rows.push([
      "1 session: lookup p50, uncached / cached",
      `${ms(one.lookupUncached.latency.p50Ms)} / ${ms(one.lookupCached.latency.p50Ms)} ms`,
      `${times(one.lookupUncached.overFloor)} / ${
        times(one.lookupCached.overFloor)
      } their floors (HTTP + 1 stream round trip / HTTP alone)`,
    ]);
  }
  const met = targets.filter((r) => r.met !== undefined);
  if (met.length > 0) {
    rows.push(["issue 11 targets met", `${met.filter((r) => r.met).length} of ${met.length}`, "see Targets below"]);
  }
  const f = done(ev, "failover");
  if (f) {
    rows.push([
      "failover: longest time with no trade after SIGKILL of the leader",
      `${ms(f.leaderKillLongestGapMs)} ms`,
      `goal well under ${failoverGapGoalMs} ms; with every replica up, the longest gap was ${ms(f.baselineLongestGapMs)} ms`,
    ]);
    rows.push([
      "failover: errors clients saw",
      String(f.errors),
      `${n(f.acked)} trades acknowledged through ${f.events.length} SIGKILLs (should be 0)`,
    ]);
    rows.push([
      "failover: consistency check",
      f.consistency.ok ? "passed" : "FAILED",
      "replica files identical, nothing lost, catalog matches the log",
    ]);
  }
  const c = done(ev, "cache_timeline");
  if (c) {
    rows.push([
      "cache: evictions are exactly LRU",
      c.modelAgrees ? "yes" : "NO",
      `${c.final.evictions} evictions in ${c.steps.length} requests, compared with a textbook LRU`,
    ]);
  }
  return rows;
}

export function headlines(ev: Evaluation): string[] {
  const out = ["headline figures:"];
  for (const [figure, value, how] of headlineRows(ev, targetsOf(ev))) out.push(`  ${figure}: ${value}  (${how})`);
  for (const name of experimentNames) {
    const r = ev.experiments[name];
    if (r && "failed" in r) out.push(`  ${name}: FAILED (${r.error.split("\n")[0]})`);
  }
  return out;
}

function metaLines(ev: Evaluation): string[] {
  const m = ev.meta.machine;
  return [
    ...table(["", ""], [
      ["runtime", ev.meta.runtime],
      ["CPU", `${m.cores} × ${m.cpuModel}`],
      ["memory", `${m.memoryGiB} GiB`],
      ["platform", m.platform],
      ["load average at start (1, 5, 15 min)", m.loadAverageStart.join(", ")],
      ["file system of the data files", m.dataFileSystem],
      ["commit measured", `\`${ev.meta.commit}\``],
      ["seed", String(ev.seed)],
      ["command", `\`${ev.command}\``],
      ["total run time", `${ev.durationS} s`],
    ]),
    "",
    "Everything runs on this one machine: the services, the reference servers and the load generators (autocannon, the",
    "clients) share its cores, and other work on a shared machine adds noise. Absolute numbers therefore vary from run to",
    "run; the ratios, measured side by side in the same run, are the figures to compare.",
  ];
}

/** When the experiment ran and how busy the machine was (1-minute load average, start → end). */
function measuredAt(m: Meta, ev: Evaluation): string[] {
  const load = `1-minute load average ${m.machine.loadAverageStart[0]}${
    m.loadAverageEnd ? ` at the start, ${m.loadAverageEnd[0]} at the end` : ""
  }, on ${m.machine.cores} cores`;
  if (m.startedAt >= ev.meta.startedAt) return [`_Measured ${m.startedAt}; ${load}._`, ""];
  return [`_Measured earlier (${m.startedAt}; ${load}); kept from a previous run because this run used \`--only\`._`, ""];
}

function throughputSection(ev: Evaluation, t: ThroughputResult): string[] {
  const p = t.parameters;
  const lat = (s: { p50: number; p90: number; p99: number }) => `${s.p50} / ${s.p90} / ${s.p99}`;
  const cpu = (x: number | undefined) => (x === undefined ? "–" : String(x));
  const hit = t.comparisons.map((c) => c.system.runs.map((r) => r.cacheHitRate).filter((x) => x !== undefined));
  const lines = [
    ...measuredAt(t.meta, ev),
    `autocannon (used as a library), ${p.durationS} s per run after ${p.warmupS} s of warm-up, ${p.rounds} round(s); in each round every`,
    "workload runs against this system and against a bare reference server (node:http in its own process, answering the",
    "same JSON bytes the frontend returned, doing nothing else), in alternating order. Figures are medians over rounds;",
    "latencies are autocannon's (1 ms resolution). `ok/s` counts 2xx answers only. CPU is the server processes' CPU time",
    "per request (frontend + catalog + replicas, or the reference), which noise disturbs less than wall-clock rates; the",
    "CPU ratio is reference ÷ system (1 = as frugal as a server doing nothing). When the server is fast, the load",
    "generator (one autocannon process, on the same cores) is the bottleneck and the rate ratio approaches 1: then the",
    "CPU ratio is the figure that still tells the two apart.",
    "",
    `![Throughput against the reference](${svgFiles.throughput})`,
    "",
    ...table(
      [
        "workload",
        "conns",
        "system ok/s",
        "p50 / p90 / p99 ms",
        "reference req/s",
        "p50 / p90 / p99 ms",
        "ratio",
        "CPU µs/req system / ref",
        "CPU ratio",
        "cache hit rate",
      ],
      t.comparisons.map((c, i) => [
        c.scenario,
        c.connections,
        n(c.system.okPerSecond),
        lat(c.system.latencyMs),
        n(c.reference.okPerSecond),
        lat(c.reference.latencyMs),
        `**${c.ratio}×**`,
        `${cpu(c.system.cpuUsPerRequest)} / ${cpu(c.reference.cpuUsPerRequest)}`,
        c.cpuRatio ? `${c.cpuRatio}×` : "–",
        (hit[i] ?? []).length > 0 ? (hit[i] ?? []).join(", ") : "–",
      ]),
    ),
    "",
    ...t.comparisons.map((c) => `- **${c.scenario}**: ${c.description}.${nonOk(c.system.statuses, c.system.errors)}`),
    "",
    "### Trades: fsync, group commit and replication",
    "",
    ...table(["figure", "value"], [
      [
        `trades/s, 3 replicas (fsync on the catalog and on a majority of replicas before the answer), ${t.parameters.connections.trade} clients`,
        `${n(t.trades.replicatedPerSecond)} (goal ≥ ${n(tradesGoalPerSecond)})`,
      ],
      [
        `trades/s, 1 replica (\`ORDER_REPLICAS\` naming one replica), ${t.parameters.connections.trade} clients`,
        `${n(t.trades.single.okPerSecond)} (p50 / p90 / p99 ${lat(t.trades.single.latencyMs)} ms)`,
      ],
      ["3 replicas ÷ 1 replica", `**${t.trades.replicatedOverSingle}×**`],
      [`raw append + fdatasync of one file, same disk, ${p.fdatasyncS} s`, `${n(t.trades.fdatasyncPerSecond)} /s`],
      ["trades/s ÷ fdatasync/s", `**${t.trades.tradesOverFdatasync}×**`],
    ]),
    "",
    "Every acknowledged trade is on disk in the catalog's journal and then in a majority of the replicas' order logs: at least two",
    "fdatasyncs one after the other. Without batching, trades/s would stay below half the fdatasync rate of one file; a",
    "ratio near or above 1 is group commit at work (one flush serves every trade waiting for it). The one-replica run",
    "shows what replication to a majority costs.",
    ...tradeSweepSection(t),
    ...cpuCeiling(t),
  ];
  return lines;
}

/** Trades/s against 3 replicas and 1 as concurrent clients grow. */
function tradeSweepSection(t: ThroughputResult): string[] {
  const sweep = t.trades.sweep ?? [];
  if (sweep.length === 0) return [];
  const side = (
    r: SideRun,
  ): string[] => [
    n(r.okPerSecond),
    `${r.latencyMs.p50} / ${r.latencyMs.p99}`,
    r.cpuUsPerRequest === undefined ? "–" : String(r.cpuUsPerRequest),
  ];
  return [
    "",
    `#### Trades/s by concurrent clients (one ${t.parameters.tradeSweep.durationS} s run per point and side)`,
    "",
    ...table(
      ["clients", "3 replicas ok/s", "p50 / p99 ms", "CPU µs/trade", "1 replica ok/s", "p50 / p99 ms", "CPU µs/trade", "3 ÷ 1"],
      sweep.map((pt) => [pt.connections, ...side(pt.replicated), ...side(pt.single), `**${pt.ratio}×**`]),
    ),
    "",
    "Each batch (one catalog call, one `Append` per follower, one fsync per process, a handful of process wake-ups) costs",
    "far more CPU than an order's own work, and a batch holds the orders that arrived while the previous one was in",
    "flight. With few clients, batches are small and that fixed cost dominates; with more clients, batches grow, the CPU",
    "per trade falls and trades/s rises until the cores are saturated, while latency grows with the queue. The headline",
    `figures above use ${t.parameters.connections.trade} clients; the goal is ≥ ${
      n(tradesGoalPerSecond)
    } acknowledged 3-way-replicated trades/s.`,
  ];
}

/** What the CPU per trade alone allows on this machine: often the real limit on few cores. */
function cpuCeiling(t: ThroughputResult): string[] {
  const cpu = t.comparisons.find((c) => c.scenario === "trade")?.system.cpuUsPerRequest;
  if (!cpu) return [];
  const cores = t.meta.machine.cores;
  const ceiling = Math.round((cores * 1e6) / cpu);
  return [
    "",
    `Each trade also costs ${cpu} µs of CPU summed over the frontend, the catalog and the replicas (gRPC, JSON, protobuf),`,
    `so ${cores} cores cannot serve more than about ${n(ceiling)} trades/s however fast the disk is — on this machine, with the`,
    "load generator on the same cores, CPU is as much a limit as fsync.",
  ];
}

function nonOk(statuses: Record<string, number>, errors: number): string {
  const other = Object.entries(statuses).filter(([code]) => !code.startsWith("2"));
  if (other.length === 0 && errors === 0) return "";
  return ` Non-2xx answers: ${other.map(([code, k]) => `${k} × ${code}`).join(", ") || "none"}${
    code409(statuses)
  }; connection errors/timeouts: ${errors}.`;
}

function code409(statuses: Record<string, number>): string {
  return statuses["409"] ? " (409 = insufficient quantity, an expected answer)" : "";
}

function failoverSection(ev: Evaluation, f: FailoverResult): string[] {
  const c = f.consistency;
  const leaderKills = f.events.filter((e) => e.role === "leader").length;
  return [
    ...measuredAt(f.meta, ev),
    `A whole system (catalog, 3 replicas, frontend) under ${f.parameters.concurrency} concurrent clients sending trades for ${
      (f.durationMs / 1000).toFixed(1)
    } s. `,
    `${f.events.length} times a replica was killed with SIGKILL (${leaderKills} times the leader), kept down for ${f.parameters.downMs}${
      f.parameters.downJitterMs ? `–${f.parameters.downMs + f.parameters.downJitterMs}` : ""
    } ms`,
    "and restarted; the next kill came after the restarted replica was ready again. A gap is the longest time in which",
    "no trade was acknowledged, measured from the last acknowledgement before the kill.",
    "",
    `![Failover timeline](${svgFiles.failover})`,
    "",
    ...table(
      [
        "#",
        "kill at (s)",
        "victim",
        "role",
        "leader after",
        "first trade after kill (ms)",
        "longest gap (ms)",
        "slowest trade sent then (ms)",
        "restart → ready (ms)",
        "gap during catch-up (ms)",
      ],
      f.events.map((
        e,
        i,
      ) => [
        i + 1,
        (e.killAtMs / 1000).toFixed(2),
        e.victim,
        e.role,
        e.leaderAfter ?? "–",
        e.firstTradeAfterKillMs === null ? "none" : ms(e.firstTradeAfterKillMs),
        `**${ms(e.longestGapAfterKillMs)}**`,
        ms(e.slowestTradeAfterKillMs),
        ms(e.readyAtMs - e.restartAtMs),
        ms(e.longestGapAroundRestartMs),
      ]),
    ),
    "",
    ...table(["figure", "value"], [
      ["trades acknowledged", n(f.acked)],
      ["409 insufficient quantity (expected answers)", n(f.rejected)],
      ["errors clients saw (should be 0)", `**${f.errors}**`],
      [
        "trade latency mean / p50 / p99 (ms), whole run",
        `${ms(f.tradeLatency.meanMs)} / ${ms(f.tradeLatency.p50Ms)} / ${ms(f.tradeLatency.p99Ms)}`,
      ],
      ["longest gap while every replica was up (the machine's own noise)", `${ms(f.baselineLongestGapMs)} ms`],
      ["longest gap after a leader SIGKILL", `**${ms(f.leaderKillLongestGapMs)} ms** (goal: well under ${failoverGapGoalMs} ms)`],
    ]),
    "",
    `**Consistency check: ${c.ok ? "passed" : "FAILED"}.** Replica files byte-identical: ${c.filesIdentical ? "yes" : "no"} (${
      c.fileBytes.map(n).join(", ")
    } bytes); ` +
    `${n(c.logRows)} orders numbered 0..${
      c.logRows - 1
    } with no gap or duplicate; acknowledged orders missing from the log: ${c.ackedMissing}; ` +
    `every stock's catalog quantity equals 100 − Σ buys + Σ sells over the log${c.ok ? "" : ` — **${c.error}**`}.`,
    ...(f.firstErrors.length > 0 ? ["", "First errors clients saw:", "", ...f.firstErrors.map((e) => `- \`${e}\``)] : []),
  ];
}

function cacheSection(ev: Evaluation, c: CacheTimelineResult): string[] {
  return [
    ...measuredAt(c.meta, ev),
    `A fresh frontend with the in-process LRU of ${c.parameters.capacity} entries and \`CACHE_LOG=1\`, one request at a time: a scripted`,
    `opening (fill the cache, reorder it with hits, evict, trade a cached stock), then ${c.parameters.randomSteps} seeded lookups, ${
      c.parameters.hotShare * 100
    }%`,
    `of them on ${c.parameters.hotStocks.join(", ")}. After each request the cached names come from \`GET /health\` and the events from`,
    `the frontend's log. A textbook LRU run beside it ${c.modelAgrees ? "**agrees at every step**" : "**disagrees** (see the JSON)"}.`,
    "",
    `![Cache contents over time](${svgFiles.cache_timeline})`,
    "",
    ...table(
      ["#", "request", "result", "evicted", "cached after (least → most recently used)"],
      c.steps.map((
        s,
      ) => [
        s.index + 1,
        `${s.request.kind === "trade" ? "POST /orders sell" : "GET"} ${s.request.name}`,
        s.outcome,
        s.evicted.join(", ") || "",
        s.keys.join(", "),
      ]),
    ),
    "",
    `Totals from \`/health\`: ${c.final.hits} hits, ${c.final.misses} misses, ${c.final.evictions} evictions (${c.evictionsLogged} evict events logged).`,
    "",
    "The frontend's log (`CACHE_LOG=1`), first lines:",
    "",
    "```",
    ...c.rawLog.slice(0, 24),
    "```",
  ];
}

function reproduceSection(ev: Evaluation): string[] {
  const params: Record<string, unknown> = {};
  for (const name of experimentNames) {
    const r = ev.experiments[name];
    if (r && !("failed" in r)) params[name] = r.parameters;
  }
  return [
    "## Reproduce",
    "",
    "```sh",
    "npm run bench                          # everything, 6-7 minutes on 2 cores (bounded at 10); writes docs/evaluation.{md,json} and docs/*.svg",
    "npm run bench -- --only failover       # one experiment (others keep their previous results in the report)",
    "npm run bench -- --quick               # every experiment with tiny durations (about a minute), into bench/results/quick/",
    "npm run bench -- --report-only         # the report again from docs/evaluation.json, measuring nothing",
    "npm run bench -- --seed 7 --out /tmp/e # another seed, another output directory",
    "```",
    "",
    "Every run also keeps its raw results in `bench/results/<timestamp>.json` (not committed). Parameters of this run:",
    "",
    "```json",
    JSON.stringify(params, null, 2),
    "```",
  ];
}

function markdown(ev: Evaluation, chaos: ChaosDocument | undefined): string {
  const targets = targetsOf(ev);
  const lines = [
    "# Evaluation",
    "",
    `Generated by \`${ev.command}\` at ${ev.generatedAt}; do not edit by hand, rerun the command. Raw results: [evaluation.json](evaluation.json).`,
    "",
    ...(ev.quick ? ["> **Quick run**: tiny durations that only exercise the experiments. These timings mean nothing.", ""] : []),
    "## Machine and settings",
    "",
    ...metaLines(ev),
    "",
    "## Headline figures",
    "",
    ...table(["figure", "value", "how to read it"], headlineRows(ev, targets)),
    "",
    "## Targets",
    "",
    ...targetsSection(targets, targetMissReasons),
    "",
  ];
  const sections: { [K in ExperimentName]: (ev: Evaluation, r: ResultOf[K]) => string[] } = {
    throughput: throughputSection,
    latency: (ev, l) => [...measuredAt(l.meta, ev), ...latencySection(l, svgFiles.latency)],
    failover: failoverSection,
    cache_timeline: cacheSection,
  };
  for (const name of experimentNames) {
    const r = ev.experiments[name];
    if (r === undefined) continue;
    lines.push(sectionTitles[name], "");
    if ("failed" in r) lines.push("**This experiment failed:**", "", "```", r.error, "```");
    else lines.push(...(sections[name] as (ev: Evaluation, r: ExperimentResult) => string[])(ev, r));
    lines.push("");
  }
  if (!ev.quick) {
    lines.push("## 5. The quorum protocol: what moved", "", ...protocolSection(done(ev, "throughput"), done(ev, "failover")), "");
  }
  if (chaos) lines.push("## 6. Safety: chaos campaign against real processes", "", ...chaosSection(chaos), "");
  lines.push(...reproduceSection(ev), "");
  return lines.join("\n");
}

/** Write evaluation.md and the SVG plots into `out`; returns the files written. */
export function writeReport(ev: Evaluation, out: string): string[] {
  const written: string[] = [];
  const write = (file: string, content: string) => {
    fs.writeFileSync(path.join(out, file), content);
    written.push(path.join(out, file));
  };
  const t = done(ev, "throughput");
  if (t) write(svgFiles.throughput, throughputChart(t));
  const l = done(ev, "latency");
  if (l) write(svgFiles.latency, latencyChart(l));
  const f = done(ev, "failover");
  if (f) write(svgFiles.failover, failoverChart(f));
  const c = done(ev, "cache_timeline");
  if (c) write(svgFiles.cache_timeline, cacheTimelineChart(c));
  write("evaluation.md", markdown(ev, readChaos(out)));
  return written;
}

/**
 * What `--quick` (and every run) checks: each experiment ran, the report has its section and
 * every plot it links exists, the client verification and the consistency check held.
 * Nothing here looks at a timing.
 */
export function checkReport(ev: Evaluation, out: string, ran: readonly ExperimentName[]): string[] {
  const problems: string[] = [];
  const file = path.join(out, "evaluation.md");
  const md = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "";
  if (md === "") problems.push(`${file} was not written`);
  for (const name of ran) {
    const r = ev.experiments[name];
    if (r === undefined || "failed" in r) {
      problems.push(`experiment ${name} failed: ${r?.error.split("\n")[0] ?? "no result"}`);
      continue;
    }
    if (!md.includes(sectionTitles[name])) problems.push(`the report has no section for ${name}`);
    const svg = path.join(out, svgFiles[name]);
    if (!md.includes(`](${svgFiles[name]})`) || !fs.existsSync(svg) || !fs.readFileSync(svg, "utf8").startsWith("<svg")) {
      problems.push(`plot ${svg} missing`);
    }
  }
  const l = done(ev, "latency");
  if (l && ran.includes("latency") && l.points.some((p) => p.mismatches > 0)) {
    problems.push("latency: the sessions found orders that did not read back as placed");
  }
  const f = done(ev, "failover");
  if (f && ran.includes("failover") && !f.consistency.ok) problems.push(`failover: consistency check failed: ${f.consistency.error}`);
  return problems;
}
