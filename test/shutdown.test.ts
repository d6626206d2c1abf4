// Graceful shutdown on SIGTERM (README "Configuration"), service by service, under a stream of trades:
// the service stops accepting, finishes the requests in flight, flushes, and exits 0; no
// acknowledged order is lost, and after a restart the guarantees of section 10 hold. A slow
// catalog lookup (CATALOG_LOOKUP_DELAY_MS, test only) keeps a request in flight at the moment
// the signal arrives.

import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { RunningService } from "../lib/service_process.ts";
import { LocalSystem } from "./support/local_system.ts";
import { lookupTimeoutMs } from "../frontend/limits.ts";
import { requestJson } from "./support/http.ts";
import { sleep } from "../lib/sleep.ts";
import type { JsonReply } from "./support/http.ts";
import { TradeLoad } from "./support/load.ts";
import { verifyGuarantees } from "./support/verify.ts";
import { waitFor } from "./support/wait.ts";

const seed = Number(process.env["TEST_SEED"] ?? Math.floor(Math.random() * 1_000_000));
/** Concurrent client connections sending trades throughout each scenario. */
const loadConcurrency = 6;
/** Orders acknowledged before each signal and after each restart. */
const ackedBetweenSteps = 30;
/**
 * How long the catalog holds each lookup, so one is surely in flight when SIGTERM lands; well
 * below the frontend's own lookup deadline (lookupTimeoutMs, 1 s), or the frontend would give up first.
 */
const lookupDelayMs = 500;
/**
 * The signal goes once the frontend has counted the lookup (its catalog call has started),
 * plus this margin for the call to reach the catalog (well inside lookupDelayMs).
 */
const signalAfterMs = 200;
/** How long the frontend may take to start the lookup (normally a millisecond). */
const lookupStartWaitMs = 5_000;

const Shutdown = suite("graceful shutdown");
Shutdown.before(() =>
  assert.ok(
    signalAfterMs < lookupDelayMs && lookupDelayMs < lookupTimeoutMs,
    "the slow lookup outlives the signal and not the frontend's deadline",
  )
);
let cluster: LocalSystem | undefined;
let load: TradeLoad | undefined;

Shutdown.after.each(async () => {
  await load?.stop();
  await cluster?.stop();
  cluster = undefined;
  load = undefined;
});

async function start(slowLookups: boolean): Promise<{ c: LocalSystem; l: TradeLoad }> {
  cluster = await LocalSystem.start(
    slowLookups ? { catalogEnv: { CATALOG_LOOKUP_DELAY_MS: String(lookupDelayMs) }, frontendEnv: { CACHE: "off" } } : {},
  );
  load = new TradeLoad(cluster.url, loadConcurrency, seed);
  await progress();
  return { c: cluster, l: load };
}

async function progress(): Promise<void> {
  const l = load as TradeLoad;
  await l.waitAcked(l.acked.length + ackedBetweenSteps);
}

/** SIGTERM `service` while a slow lookup is in flight; resolves with the exit code and the lookup's reply. */
async function terminateDuringLookup(c: LocalSystem, service: RunningService): Promise<{ code: number | string; lookup: JsonReply }> {
  const started = await lookupsStarted(c);
  const lookup = requestJson(c.url, "GET", "/stocks/GameStart");
  await waitFor(async () => (await lookupsStarted(c)) > started, lookupStartWaitMs, "the frontend to start the lookup");
  await sleep(signalAfterMs);
  service.kill("SIGTERM");
  const [code, reply] = await Promise.all([service.exited, lookup]);
  return { code, lookup: reply };
}

/** Lookups the frontend sent straight to the catalog (with the cache off, every one; counted as the call starts). */
async function lookupsStarted(c: LocalSystem): Promise<number> {
  const reply = await requestJson(c.url, "GET", "/health");
  const cache = (reply.body?.data ?? reply.body?.error?.details)?.cache as { backend?: string; bypassed?: number } | undefined;
  assert.is(cache?.backend, "off", "the slow-lookup scenarios run with the cache off, so every lookup counts");
  return cache?.bypassed ?? 0;
}

async function run(name: string, body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (err) {
    const logs = cluster?.logs() ?? "";
    // The head shows how each service started; the tail, the last moments.
    process.stderr.write(
      `${name} failed with seed=${seed}\n${logs.length > 40_000 ? `${logs.slice(0, 20_000)}\n[...]\n${logs.slice(-20_000)}` : logs}\n`,
    );
    throw err;
  }
}

Shutdown("frontend: SIGTERM answers the request in flight, exits 0, loses no acknowledged order", () =>
  run("frontend", async () => {
    const { c, l } = await start(true);
    const { code, lookup } = await terminateDuringLookup(c, c.frontend as RunningService);
    assert.is(code, 0, "frontend exit code");
    assert.is(lookup.status, 200, `the lookup in flight was answered: ${JSON.stringify(lookup.body)}`);
    assert.is(lookup.body.data.name, "GameStart");
    await requestJson(c.url, "GET", "/health").then(
      () => assert.unreachable("the stopped frontend still accepts connections"),
      (err: unknown) => assert.match(String(err), /ECONNREFUSED/),
    );
    // While it is down, clients can only fail to connect; nothing they were told is undone.
    for (const e of l.errors) {
      assert.match(e, /ECONNREFUSED|ECONNRESET|socket hang up/, "only connection failures while the frontend is down");
    }
    await c.startFrontend();
    await progress();
    await l.stop();
    await verifyGuarantees(c, l.acked);
  }));

Shutdown(
  "order: SIGTERM of the leader, then of a follower, under load: exit 0, no client error, nothing lost",
  () =>
    run("order", async () => {
      const { c, l } = await start(false);
      const health = await requestJson(c.url, "GET", "/health");
      const leader = (health.body.data?.leader ?? 3) as number;
      const follower = [1, 2, 3].find((id) => id !== leader) as number;
      for (const id of [leader, follower]) {
        const replica = c.replicas.get(id) as RunningService;
        replica.kill("SIGTERM");
        assert.is(await replica.exited, 0, `replica ${id} exit code:\n${replica.output()}`);
        await progress();
        await c.startReplica(id);
        await progress();
      }
      await l.stop();
      assert.equal(l.errors, [], `clients saw errors (seed=${seed})`);
      await verifyGuarantees(c, l.acked);
    }),
);

Shutdown(
  "catalog: SIGTERM answers the lookup in flight, flushes, exits 0; after a restart the stock table matches the log",
  () =>
    run("catalog", async () => {
      const { c, l } = await start(true);
      const { code, lookup } = await terminateDuringLookup(c, c.catalog as RunningService);
      assert.is(code, 0, `catalog exit code:\n${c.catalog?.output()}`);
      assert.is(lookup.status, 200, `the lookup in flight was answered: ${JSON.stringify(lookup.body)}`);
      await c.startCatalog();
      await progress();
      await l.stop();
      // While the catalog is down, trades are refused with 503 and Retry-After; nothing else.
      for (const e of l.errors) assert.match(e, /HTTP 503/, "only 503s while the catalog is down");
      await verifyGuarantees(c, l.acked);
    }),
);

Shutdown.run();
