// The test runner behind `npm test`: runs every *.test.ts file (unit tests beside the code,
// multi-process tests in test/) as its own uvu process, collects V8 coverage for c8 (of
// everything but generated code, the tests and test/support/, where every test helper lives),
// and ends with one plain line `N passed, N failed`. `npm test -- <substring>` runs matching files
// only; `npm test -- --help` says so.

import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { CommandLine } from "../lib/cli.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const testDirs = ["lib", "frontend", "catalog", "order", "sim", "client", "bench", "scripts", "test"];
/** A test file that runs longer than this is killed and counted as failed. */
const fileTimeoutMs = 240_000;
/** Test files run this many at a time; multi-process tests each bind their own free ports. */
const concurrency = Math.max(1, Math.min(2, os.availableParallelism()));
/** Name filters on one command line: far more than anyone types, few enough to print back. */
const filtersMax = 100;

const usage = `usage: npm test [-- FILTER...]
Runs every *.test.ts file under ${testDirs.join(", ")} as its own process (${concurrency} at a time),
then prints a coverage summary and one line "N passed, N failed". Exit status: 0 all passed,
1 a test failed, 2 a bad argument or a filter that matches no file.
  FILTER   run only the files whose path contains it (any of them), e.g. npm test -- config lib/
Environment: TEST_VERBOSE=1 prints every file's output, TEST_SERVICE_LOGS=1 echoes the logs of
the services the tests start.`;
const cli = new CommandLine("test", usage);

function findTests(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  const found: string[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) found.push(...findTests(full));
    else if (entry.name.endsWith(".test.ts")) found.push(full);
  }
  return found;
}

type FileResult = { file: string; passed: number; failed: number; output: string; code: number | null };

function parseTotals(output: string): { total: number; passed: number } | undefined {
  // deno-lint-ignore no-control-regex -- strips ANSI colour escapes
  const plain = output.replace(/\u001b\[[0-9;]*m/g, "");
  const total = /Total:\s+(\d+)/.exec(plain);
  const passed = /Passed:\s+(\d+)/.exec(plain);
  if (!total || !passed) return undefined;
  return { total: Number(total[1]), passed: Number(passed[1]) };
}

function runFile(file: string, coverageDir: string): Promise<FileResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--import", "tsx", file], {
      cwd: root,
      env: { ...process.env, NODE_V8_COVERAGE: coverageDir, FORCE_COLOR: "0" },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    let output = "";
    child.stdout.on("data", (d: Buffer) => {
      output += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      output += d.toString();
    });
    const timer = setTimeout(() => {
      output += `\n[runner] ${file} timed out after ${fileTimeoutMs} ms, killed\n`;
      try {
        process.kill(-(child.pid as number), "SIGKILL");
      } catch { /* already gone */ }
    }, fileTimeoutMs);
    child.on("close", (code) => {
      clearTimeout(timer);
      const totals = parseTotals(output);
      const rel = path.relative(root, file);
      if (!totals) {
        resolve({ file: rel, passed: 0, failed: 1, output, code });
        return;
      }
      let failed = totals.total - totals.passed;
      if (code !== 0 && failed === 0) failed = 1;
      resolve({ file: rel, passed: totals.passed, failed, output, code });
    });
  });
}

async function main(): Promise<void> {
  const filters = cli.parseWithPositionals(process.argv.slice(2), {}, filtersMax).positionals;
  const files = testDirs.flatMap((d) => findTests(path.join(root, d)))
    .filter((f) => filters.length === 0 || filters.some((s) => path.relative(root, f).includes(s)))
    .sort();
  if (files.length === 0) cli.fail(`no test file matches ${filters.map((f) => JSON.stringify(f)).join(" or ")}`);
  const coverageDir = path.join(root, "coverage", "tmp");
  fs.rmSync(path.join(root, "coverage"), { recursive: true, force: true });
  fs.mkdirSync(coverageDir, { recursive: true });

  const results: FileResult[] = [];
  const queue = [...files];
  async function worker(): Promise<void> {
    for (let file = queue.shift(); file !== undefined; file = queue.shift()) {
      const started = Date.now();
      const result = await runFile(file, coverageDir);
      results.push(result);
      const status = result.failed === 0 ? "ok  " : "FAIL";
      process.stdout.write(
        `${status} ${result.file} (${result.passed} passed, ${result.failed} failed, ${((Date.now() - started) / 1000).toFixed(1)} s)\n`,
      );
      if (result.failed > 0 || process.env["TEST_VERBOSE"]) process.stdout.write(`${result.output}\n`);
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker));

  spawnSync(process.execPath, [
    path.join(root, "node_modules", "c8", "bin", "c8.js"),
    "report",
    "--temp-directory",
    coverageDir,
    "--reporter",
    "text-summary",
    "--exclude",
    "gen/**",
    "--exclude",
    "**/*.test.ts",
    "--exclude",
    "test/support/**",
    "--exclude",
    "node_modules/**",
  ], { cwd: root, stdio: "inherit" });

  const passed = results.reduce((n, r) => n + r.passed, 0);
  const failed = results.reduce((n, r) => n + r.failed, 0);
  process.stdout.write(`${passed} passed, ${failed} failed\n`);
  process.exitCode = failed === 0 && files.length > 0 ? 0 : 1;
}

await main();
