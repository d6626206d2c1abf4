// `npm run sim -- --seeds N --seed S`: run N seeded schedules from seed S against the real
// protocol core (sim/scenario.ts) and report. A failing seed is run again with tracing and its
// last events are printed; `--seeds 1 --seed <it>` replays it exactly. Exits 1 on a violation.

import { CommandLine } from "../lib/cli.ts";
import { runSeed } from "./scenario.ts";

const usage = `usage: npm run sim -- [--seeds N] [--seed S] [--trace-lines N]
  --seeds N        how many seeds to run (default 1000)
  --seed S         the first seed (default 1); seeds S, S+1, ... S+N-1 run
  --trace-lines N  events printed before a violation (default 80)`;

const cli = new CommandLine("sim", usage);

function parse(argv: readonly string[]): { seeds: number; seed: number; traceLines: number } {
  const values = cli.parse(argv, { seeds: "string", seed: "string", "trace-lines": "string" });
  return {
    seeds: cli.number("seeds", values.seeds, { fallback: 1_000, min: 0, max: Number.MAX_SAFE_INTEGER }),
    seed: cli.number("seed", values.seed, { fallback: 1, min: 0, max: Number.MAX_SAFE_INTEGER }),
    traceLines: cli.number("trace-lines", values["trace-lines"], { fallback: 80, min: 0, max: Number.MAX_SAFE_INTEGER }),
  };
}

const options = parse(process.argv.slice(2));
const started = performance.now();
const totals = { acked: 0, refused: 0, unknown: 0, faults: 0, steps: 0, elections: 0 };
let failed: ReturnType<typeof runSeed> | undefined;
for (let seed = options.seed; seed < options.seed + options.seeds; seed++) {
  const result = runSeed(seed);
  for (const k of Object.keys(totals) as (keyof typeof totals)[]) totals[k] += result.stats[k];
  if (result.violation) {
    failed = runSeed(seed, true);
    break;
  }
}
const seconds = (performance.now() - started) / 1000;
if (failed) {
  process.stdout.write(`${failed.trace.slice(-options.traceLines).join("\n")}\n`);
  process.stdout.write(`seed ${failed.seed} FAILED: ${failed.violation}\nreplay: npm run sim -- --seeds 1 --seed ${failed.seed}\n`);
  process.exit(1);
}
process.stdout.write(
  `${options.seeds} seeds from ${options.seed} passed in ${seconds.toFixed(1)} s: ` +
    `${totals.acked} orders acknowledged, ${totals.refused} refused, ${totals.unknown} with unknown outcome, ` +
    `${totals.faults} faults, ${totals.elections} elections, ${totals.steps} events\n`,
);
