// The plots' axis arithmetic: round tick values (no binary-fraction noise in labels) and the
// axis maximum rounded up to a tick.

import { suite } from "uvu";
import * as assert from "uvu/assert";
import { escapeXml, niceMax, niceTicks } from "./svg.ts";

const svg = suite("svg");

svg("ticks are steps of 1, 2 or 5 times a power of ten, printed without noise", () => {
  assert.equal(niceTicks(0, 1.2, 6), [0, 0.2, 0.4, 0.6, 0.8, 1, 1.2]);
  assert.equal(niceTicks(0, 1.2, 5), [0, 0.5, 1]);
  assert.equal(niceTicks(0, 100, 5), [0, 20, 40, 60, 80, 100]);
  assert.equal(niceTicks(0, 0.8, 4), [0, 0.2, 0.4, 0.6, 0.8]);
  assert.equal(niceTicks(5, 5), [5]);
});

svg("the axis maximum is the first tick at or above the data", () => {
  assert.is(niceMax(73), 80);
  assert.is(niceMax(80), 80);
  assert.is(niceMax(0), 1);
});

svg("text is escaped for XML", () => {
  assert.is(escapeXml(`a<b & "c">`), "a&lt;b &amp; &quot;c&quot;&gt;");
});

svg.run();
