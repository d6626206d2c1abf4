// The failover experiment's gap arithmetic: the longest time with no acknowledged trade that
// overlaps a window, counted from the last acknowledgement before the window.

import { suite } from "uvu";
import * as assert from "uvu/assert";
import { longestGap } from "./failover.ts";

const gaps = suite("failover gaps");

gaps("a gap spanning the kill counts from the last acknowledgement before it", () => {
  // Acks at 0..100 every 10 ms, a kill at 105, the next ack at 300, then every 10 ms again.
  const acks = [...Array.from({ length: 11 }, (_, i) => i * 10), ...Array.from({ length: 20 }, (_, i) => 300 + i * 10)];
  assert.is(longestGap(acks, 105, 400, 2_000), 200);
});

gaps("the window ends at the first acknowledgement past it", () => {
  assert.is(longestGap([0, 10, 20, 500, 510], 15, 30, 2_000), 480);
  assert.is(longestGap([0, 10, 20, 30, 40], 15, 30, 2_000), 10);
});

gaps("with no acknowledgement after the kill the gap runs to the end of the window or the run", () => {
  assert.is(longestGap([0, 10], 20, 100, 2_000), 90);
  assert.is(longestGap([0, 10], 20, 100, 50), 40);
});

gaps.run();
