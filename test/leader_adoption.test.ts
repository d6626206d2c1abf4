// Several frontends over one set of replicas, with real processes: frontends that start, stop
// (SIGTERM) and crash (SIGKILL) under a stream of trades adopt the live leader instead of electing
// one, so the epoch does not move and the trades see no error; when the leader itself dies, the
// frontends converge on one new leader without a storm of epochs.

import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { RunningService } from "../lib/service_process.ts";
import { freePort } from "../lib/service_process.ts";
import { LocalSystem } from "./support/local_system.ts";
import { frontendHealth, withClient } from "./support/http.ts";
import { sleep } from "../lib/sleep.ts";
import { TradeLoad } from "./support/load.ts";
import { verifyGuarantees } from "./support/verify.ts";
import { reported } from "./support/hooks.ts";

const Adoption = suite("leader adoption");
/** Frontend restarts while the load runs, alternating SIGTERM and SIGKILL. */
const restarts = 4;
const seed = Number(process.env["TEST_SEED"] ?? 7);

let cluster: LocalSystem | undefined;
let load: TradeLoad | undefined;
const extra: RunningService[] = [];

Adoption.after(reported("after", async () => {
  await load?.stop();
  for (const f of extra) {
    f.kill("SIGKILL");
    await f.exited;
  }
  await cluster?.stop();
}));

type Health = {
  leader: number | null;
  epoch: number;
  elections: number;
  replicas: { id: number; epoch: number; role: string; ready: boolean }[];
};

async function health(url: string): Promise<Health> {
  return await frontendHealth<Health>(url) as Health;
}

async function startFrontend(c: LocalSystem): Promise<{ service: RunningService; url: string }> {
  const port = await freePort();
  const service = await c.startExtraFrontend(`frontend-${port}`, { PORT: String(port) });
  extra.push(service);
  return { service, url: `http://127.0.0.1:${port}` };
}

/** The replicas' epochs, as the frontend's /health reports them. */
async function epochs(url: string): Promise<number[]> {
  return (await health(url)).replicas.map((r) => r.epoch);
}

Adoption("frontends started, stopped and crashed under load adopt the leader: one epoch, no client error", async () => {
  cluster = await LocalSystem.start();
  const c = cluster;
  load = new TradeLoad(c.url, 6, seed);
  await load.waitAcked(30);
  const before = await health(c.url);
  assert.is(before.epoch, 1, "the first frontend elected once");
  for (let i = 0; i < restarts; i++) {
    const f = await startFrontend(c);
    await withClient(f.url, (client) => client.trade({ name: "FishCo", type: "sell", quantity: 1 })); // a trade through a new frontend
    const h = await health(f.url);
    assert.is(h.elections, 0, "a starting frontend adopts the leader: it elects nothing");
    assert.is(h.leader, before.leader);
    f.service.kill(i % 2 === 0 ? "SIGTERM" : "SIGKILL");
    await f.service.exited;
    await load.waitAcked(load.acked.length + 10);
  }
  assert.equal([...new Set(await epochs(c.url))], [1], "no replica saw a new epoch");
  assert.is((await health(c.url)).elections, 1);
  assert.equal(load.errors, [], "no client saw an error");
});

Adoption("the leader killed with three frontends up: they converge on one new leader, no epoch storm", async () => {
  const c = cluster as LocalSystem;
  const others = [await startFrontend(c), await startFrontend(c)];
  const urls = [c.url, ...others.map((f) => f.url)];
  const leader = (await health(c.url)).leader as number;
  await c.kill(c.replicas.get(leader));
  // Every frontend trades, so every one of them notices the dead leader at about the same time.
  const trades = await Promise.all(urls.map((u) => withClient(u, (client) => client.trade({ name: "BoarCo", type: "sell", quantity: 1 }))));
  assert.is(new Set(trades.map((t) => t.data.transactionNumber)).size, 3, "three orders, three numbers");
  const after = await Promise.all(urls.map(health));
  assert.is(new Set(after.map((h) => h.leader)).size, 1, "one leader for all");
  assert.is.not(after[0]?.leader, leader);
  const epoch = Math.max(...(await epochs(c.url)));
  assert.ok(epoch <= 3, `epoch ${epoch}: at most one campaign per frontend that saw the death`);
  await sleep(1_000);
  assert.is(Math.max(...(await epochs(c.url))), epoch, "and then the epoch stays");
  await (load as TradeLoad).waitAcked((load as TradeLoad).acked.length + 20);
  await c.startReplica(leader);
  await load?.stop();
  await verifyGuarantees(c, (load as TradeLoad).acked);
});

Adoption.run();
