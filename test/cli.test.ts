// Every entry point answers --help with its usage and exit 0, and a bad argument with exit 2 and
// a hint on stderr (README "Configuration"). Real processes; the services are started with a
// configuration that would fail, to show --help is answered before configuration is read.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { catalogVariables } from "../catalog/config.ts";
import { frontendVariables } from "../frontend/usage.ts";
import { orderVariables } from "../order/config.ts";
import { runToExit } from "./support/processes.ts";

/** An entry point that only prints must be done long before this. */
const exitTimeoutMs = 30_000;

function run(entry: string, args: readonly string[], env: Record<string, string> = {}): ReturnType<typeof runToExit> {
  return runToExit(entry, env, { timeoutMs: exitTimeoutMs, args });
}

const services = [
  { entry: "catalog/main.ts", command: "catalog", variables: catalogVariables },
  { entry: "order/main.ts", command: "order", variables: orderVariables },
  { entry: "frontend/main.ts", command: "frontend", variables: frontendVariables },
];

for (const { entry, command, variables } of services) {
  test(`${entry} --help lists every variable with its default and exits 0, even misconfigured`, async () => {
    const exit = await run(entry, ["--help"], { PORT: "not a port", LOG_LEVEL: "toString" });
    assert.is(exit.code, 0, exit.output);
    assert.ok(exit.output.startsWith("usage: "), exit.output);
    for (const v of variables) {
      assert.match(exit.output, new RegExp(`\\n  ${v.name} +${v.fallback.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`), v.name);
    }
  });

  test(`${entry} with an argument exits 2 with a one-line hint naming it`, async () => {
    const exit = await run(entry, ["--port", "80"]);
    assert.is(exit.code, 2, exit.output);
    const lines = exit.output.trim().split("\n");
    assert.is(lines.length, 2, exit.output);
    assert.ok(lines[0]?.startsWith(`${command}: `) && lines[0].includes("--port"), exit.output);
    assert.match(lines[1] as string, "--help");
  });
}

const scripts = [
  { entry: "scripts/start.ts", usage: "usage: npm start", bad: ["--now"] },
  { entry: "scripts/test.ts", usage: "usage: npm test", bad: ["--all"] },
  { entry: "scripts/chaos.ts", usage: "usage: npm run chaos", bad: ["--fast"] },
  { entry: "sim/run.ts", usage: "usage: npm run sim", bad: ["--seeds", "many"] },
  { entry: "scripts/gen.ts", usage: "usage: npm run gen", bad: ["a", "b"] },
];

for (const { entry, usage, bad } of scripts) {
  test(`${entry}: --help prints the usage and exits 0; ${bad.join(" ")} exits 2 with the usage`, async () => {
    const [help, wrong] = await Promise.all([run(entry, ["--help"]), run(entry, bad)]);
    assert.is(help.code, 0, help.output);
    assert.ok(help.output.startsWith(usage), help.output);
    assert.is(wrong.code, 2, wrong.output);
    assert.ok(wrong.output.includes(usage), wrong.output);
  });
}

test("npm test with a filter that matches no file says so and exits 2 without running anything", async () => {
  const exit = await run("scripts/test.ts", ["no-such-test-file"]);
  assert.is(exit.code, 2, exit.output);
  assert.match(exit.output, 'test: no test file matches "no-such-test-file"');
  assert.not.match(exit.output, /^ok |^FAIL |\d+ passed, \d+ failed$/m, "no file ran, no totals");
});

test.run();
