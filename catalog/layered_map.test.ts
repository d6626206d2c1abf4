// The layered map reads through its layer to the base, writes only to the layer, and iterates
// like a map holding both; the base never changes.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { LayeredMap } from "./layered_map.ts";

test("get and has see the layer first, then the base; the base is untouched", () => {
  const base = new Map([["a", 1], ["b", 2]]);
  const layered = new LayeredMap(base);
  layered.set("b", 20);
  layered.set("c", 30);
  assert.equal([layered.get("a"), layered.get("b"), layered.get("c"), layered.get("d")], [1, 20, 30, undefined]);
  assert.equal([layered.has("a"), layered.has("c"), layered.has("d")], [true, true, false]);
  assert.equal([...base], [["a", 1], ["b", 2]]);
  assert.equal([...layered.changes], [["b", 20], ["c", 30]]);
});

test("size and iteration: the base's keys in order with changed values, then the layer's new keys", () => {
  const layered = new LayeredMap(new Map([["a", 1], ["b", 2]]));
  layered.set("c", 30);
  layered.set("a", 10);
  assert.is(layered.size, 3);
  assert.equal([...layered], [["a", 10], ["b", 2], ["c", 30]]);
  assert.equal([...layered.keys()], ["a", "b", "c"]);
  assert.equal([...layered.values()], [10, 2, 30]);
  const seen: string[] = [];
  layered.forEach((value, key) => seen.push(`${key}=${value}`));
  assert.equal(seen, ["a=10", "b=2", "c=30"]);
});

test("a value of undefined in the layer hides the base's value", () => {
  const layered = new LayeredMap<string, number | undefined>(new Map([["a", 1]]));
  layered.set("a", undefined);
  assert.is(layered.get("a"), undefined);
  assert.is(layered.has("a"), true);
});

test.run();
