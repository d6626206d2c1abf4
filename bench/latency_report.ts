// The latency section of the evaluation report: the floor measured in the same run, one session
// against it, where the time goes by the frontend's own Server-Timing phases, and every point of
// the sessions × p × cache grid. Pure formatting of a LatencyResult.

import type { LatencyPoint, LatencyResult, Profile } from "./latency.ts";
import { verifyOrdersMax } from "./latency.ts";
import { floorDescriptions, floorPrimitives, wokenGapMs } from "./lib/floor.ts";
import { ms, n, table, times } from "./lib/markdown.ts";

const profileLabels = { trade: "trade", lookupUncached: "uncached lookup", lookupCached: "cached lookup" } as const;
type ProfileName = keyof typeof profileLabels;
const profileNames = Object.keys(profileLabels) as ProfileName[];

/** The Server-Timing phase that spans the whole request, by the frontend's convention. */
const totalPhase = "total";
const summary = (s: { p50Ms: number; p99Ms: number; count: number }): string => (s.count === 0 ? "–" : `${ms(s.p50Ms)} / ${ms(s.p99Ms)}`);

function floorTables(l: LatencyResult): string[] {
  const pr = l.floor.primitives;
  const f = l.floor.floors;
  return [
    ...table(
      ["primitive", "p50 ms", "p99 ms", "samples", "p50 before / after the sessions"],
      floorPrimitives.map((name) => [
        floorDescriptions[name],
        `**${ms(pr[name].p50Ms)}**`,
        ms(pr[name].p99Ms),
        n(pr[name].count),
        pr[name].roundP50Ms.map(ms).join(" / "),
      ]),
    ),
    "",
    ...table(["floor", "made of (p50s above)", "hot ms", "woken ms"], [
      [
        "trade",
        `HTTP round trip + 3 stream round trips (frontend → leader, leader → catalog, leader → followers) + 2 fdatasyncs (catalog, then the replicas in parallel) = ${
          ms(pr.http.p50Ms)
        } + 3 × ${ms(pr.grpcStream.p50Ms)} + 2 × ${ms(pr.fdatasync.p50Ms)}; woken: ${ms(pr.httpWoken.p50Ms)} + 3 × ${
          ms(pr.grpcStreamWoken.p50Ms)
        } + 2 × ${ms(pr.fdatasyncWoken.p50Ms)}`,
        `**${ms(f.tradeMs)}**`,
        `**${ms(f.tradeWokenMs)}**`,
      ],
      [
        "uncached lookup",
        `HTTP round trip + 1 stream round trip to the catalog = ${ms(pr.http.p50Ms)} + ${ms(pr.grpcStream.p50Ms)}`,
        `**${ms(f.lookupUncachedMs)}**`,
        "–",
      ],
      ["cached lookup", `HTTP round trip = ${ms(pr.http.p50Ms)}`, `**${ms(f.lookupCachedMs)}**`, "–"],
    ]),
  ];
}

function oneSessionTable(l: LatencyResult): string[] {
  return table(
    ["request", "p50 ms", "p99 ms", "floor ms", "p50 ÷ floor", "woken floor ms", "p50 ÷ woken floor", "samples", "measured in"],
    profileNames.map((name) => {
      const p = l.oneSession[name];
      return [
        profileLabels[name],
        `**${ms(p.latency.p50Ms)}**`,
        ms(p.latency.p99Ms),
        ms(p.floorMs),
        `**${times(p.overFloor)}**`,
        p.wokenFloorMs === undefined ? "–" : ms(p.wokenFloorMs),
        p.overWokenFloor === undefined ? "–" : `**${times(p.overWokenFloor)}**`,
        n(p.latency.count),
        p.from,
      ];
    }),
  );
}

/** Phases as rows, the three 1-session request kinds as columns, the client's p50 and the floor on top. */
function whereTheTimeGoes(l: LatencyResult): string[] {
  const profiles = profileNames.map((name) => l.oneSession[name]);
  const header = ["ms", ...profileNames.map((name) => profileLabels[name])];
  const rows: string[][] = [
    ["p50 the session measured", ...profiles.map((p) => (p.latency.count === 0 ? "–" : ms(p.latency.p50Ms)))],
    ["floor", ...profiles.map((p) => ms(p.floorMs))],
    ["CPU of all the services' processes per request", ...profiles.map((p) => (p.cpuMs === undefined ? "–" : ms(p.cpuMs)))],
  ];
  const withHeader = profiles.reduce((k, p) => k + p.serverTiming.withHeader, 0);
  if (withHeader === 0) {
    return [
      ...table(header, rows),
      "",
      `No response carried a \`Server-Timing\` header (${
        n(profiles.reduce((k, p) => k + p.serverTiming.responses, 0))
      } responses): the frontend measured here does not report its phases,`,
      "so where the time goes between the floor and the measured p50 is not shown.",
    ];
  }
  // In the order the phases first appeared, the whole (`total`) last.
  const phaseNames = [...new Set(profiles.flatMap((p) => p.serverTiming.phases.map((ph) => ph.name)))]
    .sort((a, b) => Number(a === totalPhase) - Number(b === totalPhase));
  const phaseCell = (p: Profile, name: string): string => {
    const ph = p.serverTiming.phases.find((x) => x.name === name);
    return ph === undefined ? "" : ms(ph.medianMs);
  };
  const descOf = (name: string): string => {
    const desc = profiles.flatMap((p) => p.serverTiming.phases).find((ph) => ph.name === name && ph.desc !== undefined)?.desc;
    return desc === undefined ? "" : ` (${desc})`;
  };
  for (const name of phaseNames) rows.push([`\`${name}\`${descOf(name)}`, ...profiles.map((p) => phaseCell(p, name))]);
  rows.push(["responses with the header", ...profiles.map((p) => `${n(p.serverTiming.withHeader)} of ${n(p.serverTiming.responses)}`)]);
  return [
    ...table(header, rows),
    "",
    "Phases are the medians (ms) of the `dur` values in the frontend's `Server-Timing` header, each over the responses",
    "that carried that phase; medians of parts need not add up to the median of the whole. What the session measured",
    "beyond the frontend's `total` is the client, the kernel and the HTTP parsing on both sides.",
    "",
    "The CPU row is the user + system time of the catalog, the replicas and the frontend while the sessions ran, per",
    "request: for lookups from the cache-off point with p = 0 (and the cached point), for trades what the cache-off points",
    "with trades used beyond their lookups' share. With one session the trade path runs one process at a time, so that",
    "CPU is spent in series, inside the latency; each process runs its part of a trade cold (its caches taken by the",
    "others in between), which the hot floor never does.",
  ];
}

function gridTable(l: LatencyResult): string[] {
  const floors = l.floor.floors;
  const grid = l.points.filter((pt) => pt.stocks === "all");
  const over = (x: number, floor: number): string => (floor > 0 && x > 0 ? times(x / floor) : "–");
  const row = (pt: LatencyPoint): (string | number)[] => [
    pt.sessions,
    pt.p,
    pt.cache,
    summary(pt.lookup),
    pt.lookup.count === 0 ? "–" : over(pt.lookup.p50Ms, floors.lookupUncachedMs),
    summary(pt.trade),
    pt.trade.count === 0 ? "–" : over(pt.trade.p50Ms, floors.tradeMs),
    n(pt.trade.count),
    pt.rejected,
    pt.cacheHitRate ?? "–",
    pt.cpuMsPerRequest === undefined ? "–" : ms(pt.cpuMsPerRequest),
    pt.errors + pt.mismatches,
  ];
  return table(
    [
      "sessions",
      "p",
      "cache",
      "lookup p50 / p99 ms",
      "lookup p50 ÷ uncached floor",
      "trade p50 / p99 ms",
      "trade p50 ÷ floor",
      "trades",
      "409",
      "hit rate",
      "CPU ms per request",
      "errors",
    ],
    grid.map(row),
  );
}

export function latencySection(l: LatencyResult, svgFile: string): string[] {
  const p = l.parameters;
  const problems = l.points.reduce((k, pt) => k + pt.errors + pt.mismatches, 0);
  const orders = l.points.reduce((k, pt) => k + pt.orders, 0);
  const verified = l.points.reduce((k, pt) => k + pt.verified, 0);
  return [
    `Client sessions (${p.sessions.join(" and ")} at once), each ONE keep-alive node:http connection that waits for every`,
    `answer: look up a random stock of ${p.stocks}; if it has shares, trade it with probability p (${
      p.ps.join(", ")
    }). Cache on is the frontend's`,
    `default LRU of ${p.cacheSizeOn} entries (fewer than the stocks, so lookups both hit and miss); off is \`CACHE_SIZE=0\` (every lookup`,
    `goes to the catalog). ${p.pointS} s per point, the two cache modes alternating which runs first; one more point times`,
    `cached lookups alone (1 session, ${p.hotStocks.length} stocks that all fit in the cache). Latency is from the request to the last byte`,
    "of its answer, as the session sees it.",
    "",
    "### The floor on this machine",
    "",
    "Each primitive timed alone, client and server in the benchmark's own process, in the same run (before and after the",
    "sessions, pooled): what a request on this machine cannot go below. The fdatasync runs on the services' file system.",
    "In-process, the HTTP floor's client and node:http server share one event loop and pay their CPU in series, while the",
    "sessions' frontend runs in its own process on another core: a ratio to it a little below 1 is possible.",
    "",
    "Those primitives are hot: nobody sleeps between two round trips. In a session, every hop of a request reaches a",
    "process that has been idle since its last turn, and on this VM an idle vCPU halts: waking it goes through the",
    "hypervisor. The `woken` rows time the HTTP and stream round trips again, to a server in another process, and the",
    `fdatasync again, each after ${wokenGapMs} ms idle; the woken trade floor is the same sum made of them. The difference between a`,
    "woken and a hot round trip is what this machine charges per hop for waking a process; no code of ours runs in it.",
    "It applies to trades, where each process on the path idles for milliseconds between its turns; a session's lookups",
    "follow each other within a fraction of a millisecond, so their floors stay the hot ones.",
    "",
    ...floorTables(l),
    "",
    "### One session against the floor",
    "",
    ...oneSessionTable(l),
    "",
    "### Where the time goes (1 session)",
    "",
    ...whereTheTimeGoes(l),
    "",
    "### Every point",
    "",
    `![Latency vs p, 1 and ${Math.max(...p.sessions)} sessions, cache on and off](${svgFile})`,
    "",
    ...gridTable(l),
    "",
    problems === 0
      ? `${n(verified)} of the ${
        n(orders)
      } orders the sessions placed were read back (\`GET /orders/{number}\`; all of them, or up to ${verifyOrdersMax} per session and point spread evenly), each with its content.`
      : `**${problems} errors or mismatches** — first: ${l.points.flatMap((pt) => pt.firstProblems).slice(0, 3).join("; ")}`,
  ];
}
