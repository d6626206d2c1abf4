// The latency experiment's read-back sample: every order while there are few, else a bounded
// number spread evenly from the first order to near the last, none twice. The floors composed
// from the primitives, and the CPU per trade derived from the one-session points.

import { suite } from "uvu";
import * as assert from "uvu/assert";
import { oneSessionCpu, readBackSample, verifyOrdersMax } from "./latency.ts";
import type { LatencyPoint } from "./latency.ts";
import { floorPrimitives, floorsOf } from "./lib/floor.ts";
import type { FloorPrimitive } from "./lib/floor.ts";
import { latencyPoint, latencySummary } from "./lib/latency_fixture.ts";

const sample = suite("read-back sample");

sample("up to the bound, every order in its order", () => {
  const orders = Array.from({ length: verifyOrdersMax }, (_, i) => i);
  assert.equal(readBackSample(orders), orders);
  assert.equal(readBackSample([]), []);
});

sample("past the bound, the bound's worth spread evenly, none twice", () => {
  const orders = Array.from({ length: verifyOrdersMax * 3 + 1 }, (_, i) => i);
  const picked = readBackSample(orders);
  assert.is(picked.length, verifyOrdersMax);
  assert.is(new Set(picked).size, verifyOrdersMax);
  assert.is(picked[0], 0);
  assert.ok((picked.at(-1) as number) >= orders.length - 4, "reaches the end of the point");
  const gaps = picked.slice(1).map((x, i) => x - (picked[i] as number));
  assert.ok(gaps.every((g) => g === 3 || g === 4), `even gaps: ${[...new Set(gaps)].join(",")}`);
});

sample.run();

const floors = suite("floors");

floors("hot and woken trade floors: HTTP + 3 stream round trips + 2 fdatasyncs, each from its own primitives", () => {
  const p50: Record<FloorPrimitive, number> = {
    tcp: 0.05,
    http: 0.3,
    http2: 0.33,
    grpcUnary: 0.7,
    grpcStream: 0.13,
    fdatasync: 0.25,
    httpWoken: 0.8,
    grpcStreamWoken: 0.65,
    fdatasyncWoken: 0.6,
  };
  assert.equal(Object.keys(p50).sort(), [...floorPrimitives].sort(), "every primitive is part of the fixture");
  assert.equal(floorsOf(p50), {
    tradeMs: 0.3 + 3 * 0.13 + 2 * 0.25,
    lookupUncachedMs: 0.43,
    lookupCachedMs: 0.3,
    tradeWokenMs: 0.8 + 3 * 0.65 + 2 * 0.6,
  });
});

floors.run();

const cpu = suite("CPU per request at one session");

function point(p: number, lookups: number, trades: number, cpuMsPerRequest: number | undefined): LatencyPoint {
  return latencyPoint({ p, lookup: latencySummary(1, 2, lookups), trade: latencySummary(1, 2, trades), orders: trades, cpuMsPerRequest });
}

cpu("a trade's CPU is what the points with trades used beyond their lookups at the lookups-only rate", () => {
  // 0.5 ms per lookup; the trade points spend 4 ms per trade on top of their lookups.
  const lookupsOnly = point(0, 1000, 0, 0.5);
  const half = point(0.5, 400, 200, (400 * 0.5 + 200 * 4) / 600);
  const most = point(0.8, 300, 240, (300 * 0.5 + 240 * 4) / 540);
  const derived = oneSessionCpu([lookupsOnly, half, most]);
  assert.is(derived.lookupMs, 0.5);
  assert.ok(Math.abs((derived.tradeMs as number) - 4) < 1e-9, `trade CPU ${derived.tradeMs}`);
});

cpu("without the lookups-only point, or without /proc, nothing is derived for trades", () => {
  assert.equal(oneSessionCpu([point(0.5, 400, 200, 1.5)]), {});
  assert.equal(oneSessionCpu([point(0, 1000, 0, undefined), point(0.5, 400, 200, 1.5)]), {});
  assert.equal(oneSessionCpu([point(0, 1000, 0, 0.5), point(0.5, 400, 200, undefined)]), { lookupMs: 0.5 });
});

cpu.run();
