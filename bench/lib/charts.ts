// The report's four plots, each a pure function from an experiment's result to SVG text:
// latency vs p (1 and 5 sessions, cache on and off, the floor), throughput against the
// reference, the failover timeline, and the cache's contents over time. Built from svg.ts.

import type { CacheTimelineResult } from "../cache_timeline.ts";
import type { FailoverResult } from "../failover.ts";
import type { LatencyResult } from "../latency.ts";
import type { ThroughputResult } from "../throughput.ts";
import type { Box, LegendItem } from "./svg.ts";
import { axes, circle, legend, line, linear, niceMax, niceTicks, palette, polyline, rect, svgDocument, text } from "./svg.ts";

const modeColor = { on: palette.blue, off: palette.orange } as const;

type Panel = { readonly kind: "lookup" | "trade"; readonly sessions: number; readonly box: Box };

/** One panel: p50 (solid) and p99 (dashed) against p for both cache modes, the floor as a gray line. */
function latencyPanel(r: LatencyResult, panel: Panel, ps: readonly number[]): string[] {
  const { kind, sessions, box } = panel;
  const used = r.points.filter((p) => p.stocks === "all" && p.sessions === sessions && p[kind].count > 0);
  const floorMs = kind === "trade" ? r.floor.floors.tradeMs : r.floor.floors.lookupUncachedMs;
  const max = niceMax(Math.max(floorMs, ...used.map((p) => p[kind].p99Ms)));
  const lo = Math.min(0, ...ps);
  const hi = Math.max(...ps);
  const x = linear(hi > lo ? [lo, hi] : [0, 1], [box.left, box.left + box.width]);
  const y = linear([0, max], [box.top + box.height, box.top]);
  const what = kind === "lookup" ? "GET /stocks/{name}" : "POST /orders";
  const out = [
    text(box.left + box.width / 2, box.top - 12, `${what}, ${sessions} session${sessions === 1 ? "" : "s"}`, {
      anchor: "middle",
      weight: "bold",
    }),
  ];
  out.push(
    ...axes({
      box,
      x,
      y,
      xTicks: ps,
      yTicks: niceTicks(0, max, 5),
      xLabel: "p (probability of a trade after a lookup)",
      yLabel: "latency (ms)",
    }),
  );
  out.push(line(box.left, y(floorMs), box.left + box.width, y(floorMs), { color: palette.gray, width: 1.5, dash: "2 3" }));
  for (const mode of ["on", "off"] as const) {
    const series = used.filter((p) => p.cache === mode).sort((a, b) => a.p - b.p);
    const p50 = series.map((p) => [x(p.p), y(p[kind].p50Ms)] as const);
    const p99 = series.map((p) => [x(p.p), y(p[kind].p99Ms)] as const);
    out.push(polyline(p50, { color: modeColor[mode], width: 2 }), polyline(p99, { color: modeColor[mode], width: 1.5, dash: "5 4" }));
    for (const [px, py] of p50) out.push(circle(px, py, 3, modeColor[mode]));
  }
  if (used.length === 0) {
    out.push(text(box.left + box.width / 2, box.top + box.height / 2, "no samples", { anchor: "middle", color: palette.gray }));
  }
  return out;
}

export function latencyChart(r: LatencyResult): string {
  const width = 900;
  const rowHeight = 270;
  const sessions = r.parameters.sessions;
  const height = 70 + sessions.length * rowHeight + 10;
  const body = [
    text(width / 2, 24, `Latency vs p: cache on (LRU of ${r.parameters.cacheSizeOn}) and off, against the floor of this machine`, {
      anchor: "middle",
      size: 14,
      weight: "bold",
    }),
  ];
  sessions.forEach((count, row) => {
    const top = 70 + row * rowHeight;
    body.push(...latencyPanel(r, { kind: "lookup", sessions: count, box: { left: 80, top, width: 330, height: 180 } }, r.parameters.ps));
    body.push(...latencyPanel(r, { kind: "trade", sessions: count, box: { left: 530, top, width: 330, height: 180 } }, r.parameters.ps));
  });
  const items: LegendItem[] = [
    { label: "cache on: p50", color: modeColor.on },
    { label: "cache on: p99", color: modeColor.on, dash: "5 4" },
    { label: "cache off: p50", color: modeColor.off },
    { label: "cache off: p99", color: modeColor.off, dash: "5 4" },
    { label: "floor (uncached lookup / trade)", color: palette.gray, dash: "2 3" },
  ];
  body.push(...legend(60, height - 16, items));
  return svgDocument(width, height, "Latency vs p, 1 and 5 sessions, cache on and off", body);
}

const scenarioLabels: Record<string, string> = {
  http_fixed: "HTTP server, fixed route",
  lookup_cached: "lookup, cached",
  lookup_uncached: "lookup, uncached",
  trade: "trade (3 replicas, fsync)",
  mix: "mix (1 trade : 4 lookups)",
};

export function throughputChart(r: ThroughputResult): string {
  const width = 900;
  const rowHeight = 46;
  const top = 64;
  const left = 190;
  const barWidth = 420;
  const height = top + r.comparisons.length * rowHeight + 70;
  const max = Math.max(1, niceMax(Math.max(1, ...r.comparisons.map((c) => c.ratio)), 4));
  const x = linear([0, max], [left, left + barWidth]);
  const body = [
    text(width / 2, 24, "Throughput relative to a bare reference server returning the same JSON bytes (reference = 1)", {
      anchor: "middle",
      size: 14,
      weight: "bold",
    }),
    text(width / 2, 42, "medians over rounds; each pair measured side by side in the same run", {
      anchor: "middle",
      size: 11,
      color: palette.gray,
    }),
  ];
  const bottom = top + r.comparisons.length * rowHeight;
  for (const t of niceTicks(0, max, 5)) {
    body.push(
      line(x(t), top - 6, x(t), bottom, { color: palette.light }),
      text(x(t), bottom + 16, `${t}×`, { anchor: "middle", size: 11 }),
    );
  }
  r.comparisons.forEach((c, i) => {
    const y = top + i * rowHeight;
    body.push(text(left - 10, y + 22, scenarioLabels[c.scenario] ?? c.scenario, { anchor: "end" }));
    body.push(rect(left, y + 4, x(1) - left, 12, palette.gray));
    body.push(rect(left, y + 18, x(c.ratio) - left, 16, palette.blue));
    body.push(
      text(left + barWidth + 12, y + 16, `${c.reference.label}: ${c.reference.okPerSecond.toLocaleString("en-US")} req/s`, {
        size: 11,
        color: palette.gray,
      }),
    );
    body.push(
      text(left + barWidth + 12, y + 31, `${c.system.label}: ${c.system.okPerSecond.toLocaleString("en-US")} req/s = ${c.ratio}×`, {
        size: 11,
        weight: "bold",
      }),
    );
  });
  body.push(line(x(1), top - 10, x(1), bottom, { color: palette.text, dash: "3 3" }));
  body.push(text(left + barWidth / 2, bottom + 36, "ratio of requests per second (system ÷ reference)", { anchor: "middle" }));
  body.push(
    ...legend(left, height - 12, [{ label: "reference (node:http, no work)", color: palette.gray, box: true }, {
      label: "this system",
      color: palette.blue,
      box: true,
    }]),
  );
  return svgDocument(width, height, "Throughput against the reference", body);
}

export function failoverChart(r: FailoverResult): string {
  const width = 900;
  const height = 360;
  const box: Box = { left: 70, top: 84, width: 800, height: 200 };
  const perSecond = r.timeline.okPerBucket.map((n) => (n * 1000) / r.timeline.bucketMs);
  const durationS = r.durationMs / 1000;
  const max = niceMax(Math.max(1, ...perSecond));
  const x = linear([0, durationS], [box.left, box.left + box.width]);
  const y = linear([0, max], [box.top + box.height, box.top]);
  const body = [
    text(
      width / 2,
      24,
      `Failover: acknowledged trades/s while replicas are SIGKILLed and restarted (${r.parameters.concurrency} concurrent clients)`,
      { anchor: "middle", size: 14, weight: "bold" },
    ),
    ...axes({
      box,
      x,
      y,
      xTicks: niceTicks(0, durationS, 10),
      yTicks: niceTicks(0, max, 5),
      xLabel: "time since the load started (s)",
      yLabel: "trades/s",
    }),
  ];
  body.push(
    polyline(perSecond.map((v, i) => [x(((i + 0.5) * r.timeline.bucketMs) / 1000), y(v)] as const), { color: palette.blue, width: 1.5 }),
  );
  r.events.forEach((e, i) => {
    const kx = x(e.killAtMs / 1000);
    const labelY = box.top - 30 + (i % 2) * 16;
    body.push(line(kx, labelY + 4, kx, box.top + box.height, { color: palette.red, width: 1.5 }));
    body.push(line(x(e.restartAtMs / 1000), box.top, x(e.restartAtMs / 1000), box.top + box.height, { color: palette.green, dash: "4 3" }));
    body.push(
      text(kx + 3, labelY, `kill ${e.victim}${e.role === "leader" ? " (leader)" : ""}: gap ${Math.round(e.longestGapAfterKillMs)} ms`, {
        size: 10,
        color: palette.red,
      }),
    );
  });
  body.push(...legend(box.left, height - 14, [
    { label: `acknowledged trades/s (${r.timeline.bucketMs} ms buckets)`, color: palette.blue },
    { label: "SIGKILL (longest gap without a trade)", color: palette.red },
    { label: "restart", color: palette.green, dash: "4 3" },
  ]));
  return svgDocument(width, height, "Failover timeline", body);
}

export function cacheTimelineChart(r: CacheTimelineResult): string {
  const stocks = r.parameters.stocks;
  const steps = r.steps;
  const left = 110;
  const top = 76;
  const cell = Math.max(8, Math.min(18, Math.floor(780 / Math.max(1, steps.length))));
  const rowH = 18;
  const width = left + steps.length * cell + 30;
  const height = top + stocks.length * rowH + 80;
  const body = [
    text(16, 24, `Cache contents after each request (LRU, capacity ${r.parameters.capacity} of ${stocks.length} stocks)`, {
      size: 14,
      weight: "bold",
    }),
    text(16, 42, "rows: stocks; columns: requests in order; shaded: cached after the request", { size: 11, color: palette.gray }),
  ];
  stocks.forEach((name, row) => body.push(text(left - 8, top + row * rowH + 13, name, { anchor: "end", size: 11 })));
  for (const step of steps) {
    const cx = left + step.index * cell;
    stocks.forEach((name, row) => {
      const cy = top + row * rowH;
      const accessed = step.request.name === name;
      const fill = accessed
        ? step.outcome === "hit" ? palette.green : step.outcome === "miss" ? palette.orange : palette.purple
        : step.keys.includes(name)
        ? "#b6d4fe"
        : "#ffffff";
      body.push(rect(cx + 0.5, cy + 0.5, cell - 1, rowH - 1, fill, { stroke: "#eaeef2" }));
      if (step.evicted.includes(name)) {
        body.push(text(cx + cell / 2, cy + 13, "×", { anchor: "middle", weight: "bold", color: palette.red }));
      }
    });
    if (step.index % 5 === 0) {
      body.push(text(cx + cell / 2, top + stocks.length * rowH + 14, String(step.index + 1), { anchor: "middle", size: 10 }));
    }
  }
  const scripted = steps.length - r.parameters.randomSteps;
  const sx = left + scripted * cell;
  body.push(line(sx, top - 6, sx, top + stocks.length * rowH, { color: palette.text, dash: "3 3" }));
  body.push(
    text(sx + 4, top - 8, "seeded random lookups →", { size: 10 }),
    text(sx - 4, top - 8, "← scripted", { size: 10, anchor: "end" }),
  );
  body.push(text(left, top + stocks.length * rowH + 30, "request #", { size: 11 }));
  body.push(...legend(left, height - 14, [
    { label: "cached", color: "#b6d4fe", box: true },
    { label: "hit", color: palette.green, box: true },
    { label: "miss (then cached)", color: palette.orange, box: true },
    { label: "trade (entry dropped)", color: palette.purple, box: true },
  ]));
  body.push(text(left + 450, height - 14, "× evicted (the least recently used)", { size: 11, color: palette.red }));
  return svgDocument(Math.max(width, 880), height, "Cache replacement timeline", body);
}
