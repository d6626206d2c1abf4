// The one command-line parser: values by name, numbers at their bounds and one past them, and a
// bad option ending the process with status 2 and a message naming it (run in a child process).

import { test } from "uvu";
import * as assert from "uvu/assert";
import { runTracked } from "../test/support/processes.ts";
import { CommandLine, envUsage } from "./cli.ts";

const cli = new CommandLine("demo", "usage: demo [--n N] [--flag]");

test("values by name; an option not given is undefined", () => {
  assert.equal(cli.parse(["--n", "3", "--flag"], { n: "string", flag: "boolean", other: "string" }), { n: "3", flag: true });
  assert.equal(cli.parse([], { n: "string" }), {});
});

test("numbers: the fallback when absent, the bounds accepted", () => {
  assert.is(cli.number("n", undefined, { fallback: 7, min: 1, max: 10 }), 7);
  assert.is(cli.number("n", "1", { fallback: 7, min: 1, max: 10 }), 1);
  assert.is(cli.number("n", "10", { fallback: 7, min: 1, max: 10 }), 10);
  assert.is(cli.number("p", "0.5", { fallback: 0, min: 0, max: 1, integer: false }), 0.5);
});

test("positionals: in order, `--` ends the options, and --help after `--` is a positional", () => {
  assert.equal(cli.parseWithPositionals(["a", "--n", "2", "b"], { n: "string" }, 3), { values: { n: "2" }, positionals: ["a", "b"] });
  assert.equal(cli.parseWithPositionals(["--", "--help", "-x"], {}, 2), { values: {}, positionals: ["--help", "-x"] });
});

test("envUsage: one row per variable with its default; a long default puts its meaning on the next line", () => {
  const text = envUsage("svc", "A service.", [
    { name: "PORT", fallback: "8080", about: "where" },
    { name: "PEERS", fallback: "1@a:1,2@b:2,3@c:3,4@d:4", about: "who" },
  ]);
  const lines = text.split("\n");
  assert.is(lines[0], "usage: svc");
  assert.ok(lines.some((l) => /^ {2}PORT +8080 +where$/.test(l)), text);
  const peers = lines.findIndex((l) => l.startsWith("  PEERS "));
  assert.ok(peers > 0 && lines[peers]?.endsWith("1@a:1,2@b:2,3@c:3,4@d:4") && lines[peers + 1]?.trim() === "who", text);
});

/** How long one child run may take. */
const runTimeoutMs = 20_000;

async function run(code: string): Promise<{ status: number | null; stderr: string }> {
  const script = `import { CommandLine } from "./lib/cli.ts"; const cli = new CommandLine("demo", "usage: demo"); ${code}`;
  const child = runTracked(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], process.env, {
    timeoutMs: runTimeoutMs,
  });
  const exit = await child.exited;
  return { status: exit.code, stderr: child.output() };
}

test("one past a bound, a non-number and an unknown option exit 2 naming the option", async () => {
  for (
    const [code, named] of [
      [`cli.number("n", "11", { fallback: 1, min: 1, max: 10 });`, "--n"],
      [`cli.number("n", "0", { fallback: 1, min: 1, max: 10 });`, "--n"],
      [`cli.number("n", "1.5", { fallback: 1, min: 1, max: 10 });`, "--n"],
      [`cli.number("n", "x", { fallback: 1, min: 1, max: 10 });`, "--n"],
      [`cli.parse(["--bogus"], { n: "string" });`, "bogus"],
      [`cli.parse(["stray"], { n: "string" });`, "stray"],
      [`cli.parseWithPositionals(["a", "b"], {}, 1);`, "at most 1 argument"],
    ] as const
  ) {
    const r = await run(code);
    assert.is(r.status, 2, r.stderr);
    assert.ok(r.stderr.startsWith("demo: ") && r.stderr.includes(named) && r.stderr.includes("usage: demo"), r.stderr);
  }
});

test.run();
