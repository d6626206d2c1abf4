// The latency experiment's read-back sample: every order while there are few, else a bounded
// number spread evenly from the first order to near the last, none twice.

import { suite } from "uvu";
import * as assert from "uvu/assert";
import { readBackSample, verifyOrdersMax } from "./latency.ts";

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
