// The seeded simulator as a test: thousands of crash, pause, disk and network schedules against
// the real protocol core, every invariant checked as the events happen (sim/scenario.ts). A
// failure prints the seed, the violation and the last events; `npm run sim -- --seeds 1 --seed
// <seed>` replays it exactly. SIM_SEEDS sets how many seeds run (default 10,000).

import { test } from "uvu";
import * as assert from "uvu/assert";
import { runSeed } from "./scenario.ts";

const seeds = Number(process.env["SIM_SEEDS"] ?? 10_000);
/** Seeds differ between runs only when asked (SIM_FIRST_SEED): a CI failure must replay. */
const firstSeed = Number(process.env["SIM_FIRST_SEED"] ?? 1);

test(`${seeds} seeded schedules: no acknowledged order lost, one sequence, catalog = log, one leader per epoch`, () => {
  assert.ok(Number.isSafeInteger(seeds) && seeds > 0, "SIM_SEEDS is a positive integer");
  let acked = 0;
  let faults = 0;
  for (let seed = firstSeed; seed < firstSeed + seeds; seed++) {
    const result = runSeed(seed);
    if (result.violation) {
      const replay = runSeed(seed, true);
      process.stderr.write(`${replay.trace.slice(-80).join("\n")}\n`);
      assert.unreachable(`seed ${seed}: ${result.violation}\nreplay: npm run sim -- --seeds 1 --seed ${seed}`);
    }
    acked += result.stats.acked;
    faults += result.stats.faults;
  }
  // The schedules did exercise the system: orders were acknowledged and faults injected.
  assert.ok(acked > seeds * 5, `${acked} orders acknowledged over ${seeds} seeds`);
  assert.ok(faults > seeds, `${faults} faults over ${seeds} seeds`);
});

test("the checks catch a broken rule: a catalog that numbers trades past a leader's log", () => {
  let caught = 0;
  for (let seed = 1; seed <= 200 && caught === 0; seed++) {
    if (runSeed(seed, false, "catalog-ignores-position").violation) caught++;
  }
  assert.ok(caught > 0, "some seed shows the violation");
});

test("a seed replays exactly", () => {
  const a = runSeed(4242, true);
  const b = runSeed(4242, true);
  assert.equal(a.stats, b.stats);
  assert.equal(a.trace, b.trace);
  assert.ok(a.trace.length > 0);
});

test.run();
