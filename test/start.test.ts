// `npm start` as a user runs it: every service comes up, the printed URL answers, a trade goes
// through, and SIGINT (Ctrl-C) stops everything with exit code 0 and no process left behind.

import * as fs from "node:fs";
import * as path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { freePort } from "../lib/service_process.ts";
import { runTracked, tempDir } from "./support/processes.ts";
import { waitFor } from "./support/wait.ts";
import { withClient } from "./support/http.ts";

/** From spawn to the printed URL, and from SIGINT to exit. */
const startTimeoutMs = 40_000;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test("npm start runs the system (LOG_LEVEL=warn), prints the URL and stops cleanly on SIGINT", async () => {
  const dataDir = tempDir("start");
  const [frontend, catalog, r1, r2, r3] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
  const env = {
    ...process.env,
    DATA_DIR: dataDir,
    PORT: String(frontend),
    CATALOG_ADDR: `127.0.0.1:${catalog}`,
    ORDER_REPLICAS: `1@127.0.0.1:${r1},2@127.0.0.1:${r2},3@127.0.0.1:${r3}`,
    // Above info: the services' `listening` lines, which npm start waits for, are written anyway.
    LOG_LEVEL: "warn",
  };
  const start = runTracked(process.execPath, ["--import", "tsx", "scripts/start.ts"], env, { timeoutMs: 2 * startTimeoutMs });
  const { child } = start;
  try {
    await waitFor(() => start.output().includes(`is running at http://127.0.0.1:${frontend}`), startTimeoutMs, "the URL printed")
      .catch((err: unknown) => {
        throw new Error(`${String(err)}; output:\n${start.output()}`);
      });
    const base = `http://127.0.0.1:${frontend}`;
    const buy = await withClient(base, async (client) => {
      assert.is((await client.lookup("GameStart")).data.name, "GameStart");
      return await client.trade({ name: "GameStart", quantity: 1, type: "buy" });
    });
    assert.is(buy.data.transactionNumber, 0, "the first trade of a fresh system");
    const pids = [...start.output().matchAll(/pid=(\d+)/g)].map((m) => Number(m[1]));
    child.kill("SIGINT");
    assert.is((await start.exited).code, 0, start.output());
    for (const pid of pids) assert.not.ok(alive(pid), `pid ${pid} still running`);
    for (const file of ["catalog.csv", "orders-1.csv", "orders-2.csv", "orders-3.csv"]) {
      assert.ok(fs.existsSync(path.join(dataDir, file)), `${file} written`);
    }
  } finally {
    child.kill("SIGKILL");
  }
});

test.run();
