// `npm run chaos -- --runs N --seed S [--seconds T] [--json FILE]`: N chaos runs against the
// real services (test/support/chaos_run.ts). Run i uses seed S+i, printed on its line, so
// `--runs 1 --seed <it>` replays its fault schedule and orders (not its exact timing). Prints
// one line per run and a summary; with --json, writes every run's result. Exits 1 on any
// violation or harness error, 2 on a bad option.

import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import { faultKinds } from "../test/support/chaos_faults.ts";
import { clientCount, runChaos } from "../test/support/chaos_run.ts";
import type { RunResult } from "../test/support/chaos_run.ts";
import { CommandLine } from "../lib/cli.ts";
import { killAll } from "../test/support/processes.ts";

/** Bounds on the options: a chaos command that cannot run away. */
const runsMax = 1_000;
const secondsMin = 1;
const secondsMax = 3_600;
const secondsDefault = 30;
/** Violations printed per failed run (all are in --json). */
const violationsPrintedMax = 20;

const usage = `usage: npm run chaos -- --runs N --seed S [--seconds T] [--json FILE]
  --runs N      how many runs (1-${runsMax}, default 1)
  --seed S      seed of the first run; run i uses seed S+i (default 1)
  --seconds T   load phase of each run, in seconds (${secondsMin}-${secondsMax}, default ${secondsDefault})
  --json FILE   also write every run's result as JSON to FILE
Each run starts a catalog, 3 order replicas and 2 frontends as real processes on 127.0.0.1 with
a temporary DATA_DIR, trades from ${clientCount} keep-alive clients while seeded faults (SIGKILL, SIGSTOP,
torn log lines) hit every service, heals, then checks the guarantees of protos/PROTOCOL.md
from the files. Replay one run: --runs 1 --seed <its seed>. A failed run keeps its DATA_DIR
(with services.log). Exit status: 0 all clean, 1 a violation or error, 2 bad option.`;

type Options = { runs: number; seed: number; seconds: number; json: string | undefined };

const cli = new CommandLine("chaos", usage);

function parseOptions(argv: readonly string[]): Options {
  const values = cli.parse(argv, { runs: "string", seed: "string", seconds: "string", json: "string" });
  if (values.json !== undefined && (values.json === "" || values.json.startsWith("--"))) cli.fail("--json needs a file name");
  return {
    runs: cli.number("runs", values.runs, { fallback: 1, min: 1, max: runsMax }),
    seed: cli.number("seed", values.seed, { fallback: 1, min: 0, max: 2 ** 31 }),
    seconds: cli.number("seconds", values.seconds, { fallback: secondsDefault, min: secondsMin, max: secondsMax }),
    json: values.json,
  };
}

function faultSummary(r: RunResult): string {
  const counts = faultKinds.map((k) => [k, r.faults.filter((f) => f.kind === k).length] as const).filter(([, n]) => n > 0);
  const torn = r.faults.reduce((s, f) => s + f.torn.length, 0);
  return [...counts.map(([k, n]) => `${k} ${n}`), ...(torn > 0 ? [`torn ${torn}`] : [])].join(", ") || "none";
}

function runLine(r: RunResult): string {
  const detail = [
    `log ${r.logLength} orders`,
    `${r.retries} retries`,
    `read-your-writes ${r.rywChecks} checked/${r.rywSkipped} skipped`,
    `faults: ${faultSummary(r)}`,
    `final order ${r.finalOrderMs ?? "-"} ms`,
    `converged ${r.convergeMs ?? "-"} ms`,
    `${(r.durationMs / 1000).toFixed(1)} s`,
  ];
  return `run ${r.run} seed ${r.seed}: acked ${r.acked}, unknown ${r.unknown}, refused ${r.refused}, faults ${r.faults.length}, ` +
    `violations ${r.violations.length} (${detail.join("; ")})${r.error ? " ERROR" : ""}`;
}

function printFailure(r: RunResult): void {
  const out: string[] = [];
  if (r.error) out.push(`  harness error: ${r.error}`);
  for (const v of r.violations.slice(0, violationsPrintedMax)) out.push(`  violation ${v.kind}: ${v.detail}`);
  if (r.violations.length > violationsPrintedMax) out.push(`  … ${r.violations.length - violationsPrintedMax} more (see --json)`);
  out.push(
    `  faults: ${
      r.faults.map((f) => `${f.atMs}ms ${f.kind} ${f.targets.join("+")} ${f.holdMs}ms${f.torn.length ? ` torn ${f.torn.join("+")}` : ""}`)
        .join(" | ")
    }`,
  );
  if (r.dataDir) out.push(`  data and every service's output kept in ${r.dataDir} (services.log)`);
  if (r.logExcerpt.length > 0) out.push("  service warnings and errors (newest last):", ...r.logExcerpt.map((l) => `    ${l}`));
  out.push(`  replay: npm run chaos -- --runs 1 --seed ${r.seed} --seconds ${r.seconds}`);
  process.stdout.write(`${out.join("\n")}\n`);
}

/** The commit under test (with "+changes" when the tree differs from it), for the report. */
function commitUnderTest(): string {
  const git = (...args: string[]): string => spawnSync("git", args, { encoding: "utf8" }).stdout?.trim() ?? "";
  const commit = git("rev-parse", "--short", "HEAD") || "unknown";
  return git("status", "--porcelain", "--untracked-files=no") === "" ? commit : `${commit}+changes`;
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const commit = commitUnderTest();
  const results: RunResult[] = [];
  try {
    for (let i = 0; i < options.runs; i++) {
      const r = await runChaos({ run: i, seed: options.seed + i, seconds: options.seconds });
      results.push(r);
      process.stdout.write(`${runLine(r)}\n`);
      if (r.violations.length > 0 || r.error) printFailure(r);
    }
  } finally {
    killAll();
  }
  const failed = results.filter((r) => r.violations.length > 0 || r.error);
  const sum = (f: (r: RunResult) => number): number => results.reduce((s, r) => s + f(r), 0);
  process.stdout.write(
    `${results.length} runs from seed ${options.seed}: ${failed.length} failed; acked ${sum((r) => r.acked)}, ` +
      `unknown ${sum((r) => r.unknown)}, refused ${sum((r) => r.refused)}, faults ${sum((r) => r.faults.length)}, ` +
      `violations ${sum((r) => r.violations.length)}` +
      `${failed.length > 0 ? `; failed seeds: ${failed.map((r) => r.seed).join(", ")}` : ""}\n`,
  );
  if (options.json) {
    const doc = {
      options,
      commit,
      node: process.version,
      platform: `${process.platform}-${process.arch}`,
      finishedAt: new Date().toISOString(),
      runs: results,
    };
    fs.writeFileSync(options.json, `${JSON.stringify(doc, null, 2)}\n`);
  }
  process.exitCode = failed.length > 0 ? 1 : 0;
}

await main();
