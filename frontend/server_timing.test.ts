// The Server-Timing formatter: entries in order, desc quoted, durations rounded to microseconds
// and never in exponent notation.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { serverTiming } from "./server_timing.ts";

test("entries in order, with desc and dur where given", () => {
  const text = serverTiming([{ name: "cache", desc: "hit", durMs: 0.0123 }, { name: "catalog", durMs: 0.15 }, { name: "total", durMs: 2 }]);
  assert.is(text, 'cache;desc="hit";dur=0.012, catalog;dur=0.15, total;dur=2');
});

test("tiny, zero and negative durations print as plain decimals", () => {
  assert.is(
    serverTiming([{ name: "a", durMs: 1e-9 }, { name: "b", durMs: 0.0004 }, { name: "c", durMs: -1 }]),
    "a;dur=0, b;dur=0, c;dur=0",
  );
  assert.is(serverTiming([{ name: "a", durMs: 0.0005 }, { name: "b", durMs: 123456.7891 }]), "a;dur=0.001, b;dur=123456.789");
});

test("a name alone", () => {
  assert.is(serverTiming([{ name: "miss" }]), "miss");
});

test.run();
