// gen/ is committed and must match what `npm run gen` produces from protos/ right now.

import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { generate } from "../scripts/gen.ts";
import { projectRoot } from "../lib/service_process.ts";

test("gen/ is up to date with protos/ (run `npm run gen` if this fails)", () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), "sb-gen-"));
  try {
    generate(out);
    const fresh = fs.readdirSync(out).filter((f) => f.endsWith(".ts")).sort();
    const committed = fs.readdirSync(path.join(projectRoot, "gen")).filter((f) => f.endsWith(".ts")).sort();
    assert.equal(committed, fresh, "the same files");
    for (const file of fresh) {
      const expected = fs.readFileSync(path.join(out, file), "utf8");
      const actual = fs.readFileSync(path.join(projectRoot, "gen", file), "utf8");
      assert.ok(expected === actual, `gen/${file} is stale`);
    }
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
});

test("generated files carry the do-not-edit header", () => {
  for (const file of fs.readdirSync(path.join(projectRoot, "gen"))) {
    assert.match(fs.readFileSync(path.join(projectRoot, "gen", file), "utf8"), /DO NOT EDIT/);
  }
});

test.run();
