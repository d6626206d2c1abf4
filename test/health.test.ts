// GET /health with real processes: a frontend that started before any replica becomes ready by
// itself once the replicas are up — no order has to arrive first — so an orchestrator that routes
// by /health (compose's healthcheck, a readiness probe) does not wait forever.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { StockBazaarError } from "../client/errors.ts";
import { StockBazaarClient } from "../client/stock_bazaar_client.ts";
import { LocalSystem } from "./support/local_system.ts";
import { waitFor } from "./support/wait.ts";

/** Generous for a loaded machine: three replicas start, one is elected. */
const readyWaitMs = 30_000;

test("a frontend started before the replicas answers /health 200 once they are up, with no order sent", async () => {
  const system = await LocalSystem.start({ noFrontend: true });
  const client = new StockBazaarClient({ baseUrl: system.url, deadlineMs: 5_000 });
  try {
    const ids = system.replicaIds;
    for (const id of ids) await system.killReplica(id);
    await system.startFrontend();
    const status = async (): Promise<number> => {
      try {
        return (await client.health()).status;
      } catch (err) {
        if (err instanceof StockBazaarError && err.status !== undefined) return err.status;
        throw err;
      }
    };
    assert.is(await status(), 503, "no replica: not ready");
    for (const id of ids) await system.startReplica(id);
    await waitFor(async () => (await status()) === 200, readyWaitMs, "/health to answer 200 without an order");
  } finally {
    client.close();
    await system.stop();
  }
});

test.run();
