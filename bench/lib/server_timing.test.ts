// The Server-Timing reader: the W3C header grammar (tokens, quoted descriptions with commas and
// semicolons inside, parameters in any order and case, the first of a repeated one) and the
// per-phase medians the latency report shows.

import { suite } from "uvu";
import * as assert from "uvu/assert";
import { parseServerTiming, ServerTimingCollector } from "./server_timing.ts";

const parse = suite("Server-Timing header");

parse("names with dur and desc, in either order, several metrics", () => {
  assert.equal(parseServerTiming('queue;dur=0.12, catalog;desc="catalog call";dur=0.4,total;dur=1.5'), [
    { name: "queue", durMs: 0.12, desc: undefined },
    { name: "catalog", durMs: 0.4, desc: "catalog call" },
    { name: "total", durMs: 1.5, desc: undefined },
  ]);
});

parse("a quoted description may hold commas, semicolons and escaped quotes", () => {
  assert.equal(parseServerTiming('cache;desc="hit, fresh; \\"lru\\"";dur=0.01, total;dur=0.05'), [
    { name: "cache", durMs: 0.01, desc: 'hit, fresh; "lru"' },
    { name: "total", durMs: 0.05, desc: undefined },
  ]);
});

parse("whitespace around separators, upper-case parameter names, a token description", () => {
  assert.equal(parseServerTiming("  fsync ; DUR = 0.25 ; Desc=replicas  "), [{ name: "fsync", durMs: 0.25, desc: "replicas" }]);
});

parse("the first of a repeated parameter counts; a dur that is not a number is left out", () => {
  assert.equal(parseServerTiming("a;dur=1;dur=2, b;dur=fast, c"), [
    { name: "a", durMs: 1, desc: undefined },
    { name: "b", durMs: undefined, desc: undefined },
    { name: "c", durMs: undefined, desc: undefined },
  ]);
});

parse("entries whose name is not a token are skipped; an empty header has no metrics", () => {
  assert.equal(parseServerTiming('"quoted";dur=1, ok;dur=2, ,'), [{ name: "ok", durMs: 2, desc: undefined }]);
  assert.equal(parseServerTiming(""), []);
});

const collect = suite("Server-Timing collector");

collect("the median of each phase over the responses that carry it, in first-seen order", () => {
  const c = new ServerTimingCollector();
  c.add("queue;dur=1, total;dur=10");
  c.add("queue;dur=3, total;dur=30");
  c.add(undefined);
  c.add("total;dur=20, fsync;dur=5");
  assert.equal(c.summary(), {
    responses: 4,
    withHeader: 3,
    phases: [
      { name: "queue", desc: undefined, medianMs: 2, count: 2 },
      { name: "total", desc: undefined, medianMs: 20, count: 3 },
      { name: "fsync", desc: undefined, medianMs: 5, count: 1 },
    ],
  });
});

collect("merging two collectors pools their samples", () => {
  const a = new ServerTimingCollector();
  const b = new ServerTimingCollector();
  a.add("total;dur=1");
  b.add("total;dur=3");
  b.add("total;dur=5");
  a.merge(b);
  assert.equal(a.summary(), { responses: 3, withHeader: 3, phases: [{ name: "total", desc: undefined, medianMs: 3, count: 3 }] });
});

parse.run();
collect.run();
