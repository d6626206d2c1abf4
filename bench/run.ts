// `npm run bench`: the evaluation of README "Benchmarks" with one command. Runs each experiment
// (throughput vs a reference, latency against the floor, failover, cache replacement) under a time bound,
// writes the results as JSON (bench/results/<timestamp>.json and <out>/evaluation.json) and
// the report (<out>/evaluation.md with SVG plots), and says where they are. Measures only:
// the exit code is non-zero when an experiment could not run or the report was not written,
// never because of a timing.
//
//   npm run bench [-- --quick] [--out <dir>] [--only throughput,latency,failover,cache_timeline] [--seed <n>]
//   npm run bench -- --report-only [--out <dir>]   (rewrite the report from <out>/evaluation.json)
//   npm run bench -- --help
//
// --quick exercises every experiment with tiny durations (about a minute) and writes to
// bench/results/quick/ unless --out says otherwise, so the committed docs/ stay untouched.

import * as fs from "node:fs";
import * as path from "node:path";
import { CommandLine } from "../lib/cli.ts";
import { projectRoot } from "../lib/service_process.ts";
import type { BenchContext } from "./lib/context.ts";
import { SharedSystem } from "./lib/context.ts";
import { loadAverage, meta } from "./lib/machine.ts";
import { Scope, withDeadline } from "./lib/scope.ts";
import { runCacheTimeline } from "./cache_timeline.ts";
import { runFailover } from "./failover.ts";
import { runLatency } from "./latency.ts";
import { checkReport, headlines, setResult, writeReport } from "./report.ts";
import type { Evaluation, ExperimentName, ExperimentResult } from "./report.ts";
import { experimentNames } from "./report.ts";
import { runThroughput } from "./throughput.ts";

/**
 * Time bounds per experiment (ms). The full budgets add up to 10 minutes, so `npm run bench`
 * ends within about 10 minutes even when every experiment hits its bound; the typical run
 * takes 6 to 7 on 2 cores. Quick budgets are generous: they only stop a hang (latency's covers
 * starting the shared system itself when throughput could not).
 */
const budgetsMs: Record<"full" | "quick", Record<ExperimentName, number>> = {
  full: { throughput: 270_000, latency: 150_000, failover: 130_000, cache_timeline: 50_000 },
  quick: { throughput: 60_000, latency: 90_000, failover: 60_000, cache_timeline: 30_000 },
};
/** After Ctrl-C, give teardown this long before exiting anyway. */
const interruptTeardownMs = 3_000;

const runners: Record<ExperimentName, (ctx: BenchContext) => Promise<ExperimentResult>> = {
  throughput: runThroughput,
  latency: runLatency,
  failover: runFailover,
  cache_timeline: runCacheTimeline,
};

type Options = { quick: boolean; out: string; only: ExperimentName[]; seed: number; reportOnly: boolean };

const cli = new CommandLine(
  "bench",
  [
    `usage: npm run bench -- [--quick] [--out <dir>] [--only ${experimentNames.join(",")}] [--seed <n>] [--report-only]`,
    "",
    "Runs the evaluation's experiments, each under a time bound, and writes <out>/evaluation.md (with SVG plots) and",
    "<out>/evaluation.json; raw results also go to bench/results/<timestamp>.json. Measures only: the exit code is",
    "non-zero when an experiment failed or the report is incomplete, never because of a timing.",
    "",
    "  --quick         every experiment with tiny durations (about a minute; timings meaningless), into bench/results/quick/",
    "  --out <dir>     where the report goes (default: docs/, or bench/results/quick/ with --quick)",
    `  --only <names>  a comma-separated subset of: ${experimentNames.join(", ")}; the others keep their previous results`,
    "  --seed <n>      seed of the clients' random choices (default 42)",
    "  --report-only   rewrite <out>/evaluation.md and its plots from <out>/evaluation.json, measuring nothing",
    "  --help          this text",
  ].join("\n"),
);

function parseOptions(argv: string[]): Options {
  const values = cli.parse(argv, { quick: "boolean", out: "string", only: "string", seed: "string", "report-only": "boolean" });
  const only = values.only === undefined ? [...experimentNames] : values.only.split(",").filter((n) => n !== "");
  for (const name of only) {
    if (!(experimentNames as readonly string[]).includes(name)) {
      cli.fail(`--only: unknown experiment "${name}" (known: ${experimentNames.join(", ")})`);
    }
  }
  if (only.length === 0) cli.fail("--only must name at least one experiment");
  const seed = cli.number("seed", values.seed, { fallback: 42, min: 0, max: Number.MAX_SAFE_INTEGER });
  const quick = values.quick ?? false;
  const out = path.resolve(values.out ?? path.join(projectRoot, quick ? "bench/results/quick" : "docs"));
  return { quick, out, only: only as ExperimentName[], seed, reportOnly: values["report-only"] ?? false };
}

/** With --only, the other experiments' latest results stay in the report (those it still knows). */
function previous(out: string): Evaluation["experiments"] {
  let saved: Record<string, ExperimentResult>;
  try {
    saved = (JSON.parse(fs.readFileSync(path.join(out, "evaluation.json"), "utf8")) as Evaluation).experiments ?? {};
  } catch {
    return {};
  }
  const kept: Evaluation["experiments"] = {};
  for (const name of experimentNames) {
    const r = saved[name];
    if (r !== undefined) setResult(kept, name, r);
  }
  return kept;
}

async function runOne(root: Scope, shared: SharedSystem, options: Options, name: ExperimentName): Promise<ExperimentResult> {
  const scope = root.child(name);
  const ctx: BenchContext = {
    quick: options.quick,
    seed: options.seed,
    scope,
    log: (line) => process.stdout.write(`${line}\n`),
    backend: () => shared.backend(),
    frontend: (kind) => shared.frontend(kind),
  };
  const started = Date.now();
  const budget = budgetsMs[options.quick ? "quick" : "full"][name];
  process.stdout.write(`== ${name} (bound ${budget / 1000} s)\n`);
  try {
    const result = await withDeadline(scope, name, budget, () => runners[name](ctx));
    process.stdout.write(`== ${name} done in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
    return { ...result, meta: { ...result.meta, loadAverageEnd: loadAverage() } };
  } catch (err) {
    const message = err instanceof Error ? err.stack ?? err.message : String(err);
    process.stdout.write(`== ${name} FAILED after ${((Date.now() - started) / 1000).toFixed(1)} s: ${message}\n`);
    await shared.reset();
    return { experiment: name, failed: true, error: message, meta: meta() };
  } finally {
    await scope.close();
  }
}

/** A path as the user can paste it: relative to the working directory when inside it. */
function shown(file: string): string {
  const rel = path.relative(process.cwd(), file);
  return rel.startsWith("..") || path.isAbsolute(rel) ? file : rel;
}

/** --report-only: the report again from saved results, e.g. after a change to report.ts. */
function rewriteReport(out: string): number {
  const file = path.join(out, "evaluation.json");
  if (!fs.existsSync(file)) cli.fail(`--report-only: ${file} does not exist`);
  const evaluation = JSON.parse(fs.readFileSync(file, "utf8")) as Evaluation;
  writeReport(evaluation, out);
  process.stdout.write(`report: ${shown(path.join(out, "evaluation.md"))} rewritten from ${shown(file)}\n`);
  return 0;
}

async function main(): Promise<number> {
  const options = parseOptions(process.argv.slice(2));
  if (options.reportOnly) return rewriteReport(options.out);
  const root = new Scope("bench");
  process.on("exit", () => root.killAll());
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      process.stdout.write(`\nbench: ${signal}, stopping every process started\n`);
      root.killAll();
      setTimeout(() => process.exit(130), interruptTeardownMs).unref();
      void root.close().finally(() => process.exit(130));
    });
  }
  const started = Date.now();
  const startMeta = meta();
  const m = startMeta.machine;
  process.stdout.write(
    `bench: ${options.quick ? "QUICK (timings meaningless) " : ""}${options.only.join(", ")}; ${startMeta.runtime}, ` +
      `${m.cores} x ${m.cpuModel}, load ${m.loadAverageStart.join(" ")}, seed ${options.seed}\n`,
  );
  const shared = new SharedSystem(root);
  const experiments: Evaluation["experiments"] = options.only.length < experimentNames.length ? previous(options.out) : {};
  try {
    for (const name of options.only) setResult(experiments, name, await runOne(root, shared, options, name));
  } finally {
    await root.close();
  }
  const evaluation: Evaluation = {
    generatedAt: new Date().toISOString(),
    quick: options.quick,
    seed: options.seed,
    command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(" ")}` : ""}`,
    durationS: Math.round((Date.now() - started) / 100) / 10,
    meta: startMeta,
    experiments,
  };
  const stamp = evaluation.generatedAt.replace(/[:.]/g, "-");
  const resultsDir = path.join(projectRoot, "bench", "results");
  fs.mkdirSync(resultsDir, { recursive: true });
  fs.mkdirSync(options.out, { recursive: true });
  const resultsFile = path.join(resultsDir, `${stamp}${options.quick ? "-quick" : ""}.json`);
  const text = `${JSON.stringify(evaluation, null, 2)}\n`;
  fs.writeFileSync(resultsFile, text);
  fs.writeFileSync(path.join(options.out, "evaluation.json"), text);
  const files = writeReport(evaluation, options.out);
  const problems = checkReport(evaluation, options.out, options.only);
  process.stdout.write(`\n${headlines(evaluation).join("\n")}\n\n`);
  process.stdout.write(
    `report:  ${shown(path.join(options.out, "evaluation.md"))} (with ${files.filter((f) => f.endsWith(".svg")).length} SVG plots)\n`,
  );
  process.stdout.write(`results: ${shown(resultsFile)} and ${shown(path.join(options.out, "evaluation.json"))}\n`);
  process.stdout.write(`total:   ${evaluation.durationS} s\n`);
  for (const p of problems) process.stdout.write(`problem: ${p}\n`);
  return problems.length === 0 ? 0 : 1;
}

// exit() rather than waiting for the event loop: a stray keep-alive socket must not hold the run.
process.exit(await main());
