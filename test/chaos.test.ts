// One short chaos run (test/support/chaos_run.ts, the engine of `npm run chaos`) as a smoke
// test: real processes, two frontends, eight clients, a dense seeded fault schedule, then every
// check from the files. It passes only with zero violations AND a run that did something:
// acknowledged orders, faults injected, read-your-writes checked. TEST_SEED=<n> picks the seed.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { runChaos } from "./support/chaos_run.ts";

const seed = Number(process.env["TEST_SEED"] ?? 1);
/** Short, but long enough for several faults at 0.3–1 s apart (each with its restart). */
const seconds = 10;
/**
 * A fault waits for the previous one's restart, which takes seconds on a loaded 2-core machine
 * (other test files run beside this one): a quiet run injects several, a loaded one at least one.
 */
const faultsMin = 1;

test("a short chaos run acknowledges orders through faults and violates nothing", async () => {
  const r = await runChaos({ run: 0, seed, seconds, faultGap: { minMs: 300, maxMs: 1_000 } });
  const summary = `seed ${seed}: ${JSON.stringify({ ...r, logExcerpt: undefined })}\n${r.logExcerpt.join("\n")}`;
  assert.is(r.error, undefined, summary);
  assert.equal(r.violations, [], summary);
  assert.ok(r.acked > 0, `no order acknowledged; ${summary}`);
  assert.ok(r.faults.length >= faultsMin, `only ${r.faults.length} faults injected; ${summary}`);
  assert.ok(r.rywChecks > 0, `no read-your-writes check ran; ${summary}`);
  assert.ok(r.finalOrderMs !== undefined && r.convergeMs !== undefined, summary);
  assert.ok(r.logLength >= r.acked + 1, `the log (${r.logLength}) holds every acknowledged order and the final one; ${summary}`);
});

test.run();
