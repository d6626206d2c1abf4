// Lookups on the catalog's Lookups stream over real gRPC against the in-process fake catalog
// (which reads a stock when the call arrives and answers lookupDelayMs later): concurrent
// lookups share a call, a lookup never shares a call sent before it began, NOT_FOUND, a catalog
// that is down, and the bound on stocks in flight.

import { suite } from "uvu";
import * as assert from "uvu/assert";
import { CatalogClient } from "../../gen/catalog.ts";
import { channelOptions, grpc, isServiceError } from "../../lib/grpc.ts";
import { FakeCatalog } from "../../test/support/fake_catalog.ts";
import { waitFor } from "../../test/support/wait.ts";
import { CatalogLookups, lookupStocksInFlightMax } from "./catalog_lookups.ts";

type Rig = { fake: FakeCatalog; client: CatalogClient; lookups: CatalogLookups };
let rig: Rig | undefined;

async function setUp(lookupDelayMs: number, timeoutMs = 5_000): Promise<Rig> {
  const fake = new FakeCatalog();
  fake.lookupDelayMs = lookupDelayMs;
  await fake.start();
  const client = new CatalogClient(`127.0.0.1:${fake.port}`, grpc.credentials.createInsecure(), channelOptions);
  const lookups = new CatalogLookups({ open: () => client.lookups(), timeoutMs });
  rig = { fake, client, lookups };
  return rig;
}

const test = suite("catalog lookups (stream, coalescing)");
test.after.each(() => {
  rig?.lookups.close();
  rig?.client.close();
  rig?.fake.stop();
  rig = undefined;
});

test("one lookup: the stock, on one call", async () => {
  const { fake, lookups } = await setUp(0);
  const stock = await lookups.lookup("GameStart");
  assert.equal(stock, { name: "GameStart", price: 10, quantity: 100, volume: 0, version: 0 });
  assert.equal([lookups.calls, fake.lookups], [1, 1]);
});

test("lookups arriving while a call is in flight share the next call", async () => {
  const { fake, lookups } = await setUp(150);
  const first = lookups.lookup("FishCo");
  await waitFor(() => fake.lookups === 1, 5_000, "the first call to reach the catalog");
  const later = [lookups.lookup("FishCo"), lookups.lookup("FishCo"), lookups.lookup("FishCo")];
  const other = lookups.lookup("BoarCo");
  const answers = await Promise.all([first, ...later, other]);
  assert.equal(answers.map((s) => s?.name), ["FishCo", "FishCo", "FishCo", "FishCo", "BoarCo"]);
  assert.equal([lookups.calls, fake.lookups], [3, 3], "FishCo twice (the first call, then one for the three), BoarCo once");
});

test("a lookup that begins after a trade never gets the answer of a call sent before it", async () => {
  const { fake, lookups } = await setUp(200);
  const before = lookups.lookup("MenhirCo");
  await waitFor(() => fake.lookups === 1, 5_000, "the first call to reach the catalog");
  // The first call has read version 0; its answer is held back while the trade happens.
  const traded = fake.trade("MenhirCo", 5);
  const after = lookups.lookup("MenhirCo");
  assert.is((await before)?.version, 0, "the race was not forced: the first call read after the trade");
  const fresh = await after;
  assert.equal([fresh?.version, fresh?.quantity], [traded.version, 95]);
});

test("unknown stock: undefined", async () => {
  const { lookups } = await setUp(0);
  assert.is(await lookups.lookup("NoSuchCo"), undefined);
});

test("catalog down: lookups fail with a gRPC status within their deadline, and work again after", async () => {
  const { fake, lookups } = await setUp(0, 300);
  assert.ok(await lookups.lookup("GameStart"));
  const port = fake.port;
  fake.stop();
  const err = await lookups.lookup("GameStart").then(() => undefined, (e: unknown) => e);
  assert.ok(
    isServiceError(err) && [grpc.status.UNAVAILABLE, grpc.status.DEADLINE_EXCEEDED].includes(err.code),
    `got ${String(err)}`,
  );
  await fake.start(port);
  await waitFor(async () => (await lookups.lookup("GameStart").catch(() => undefined)) !== undefined, 10_000, "lookups again");
});

test(`more than ${lookupStocksInFlightMax} stocks at once: the one past the bound is refused with UNAVAILABLE`, async () => {
  const { lookups } = await setUp(200);
  const inFlight = Array.from({ length: lookupStocksInFlightMax }, (_, i) => lookups.lookup(`Unknown${i}`));
  const err = await lookups.lookup("GameStart").then(() => undefined, (e: unknown) => e);
  assert.ok(isServiceError(err) && err.code === grpc.status.UNAVAILABLE, `got ${String(err)}`);
  assert.equal(await Promise.all(inFlight), inFlight.map(() => undefined));
  assert.is((await lookups.lookup("GameStart"))?.name, "GameStart", "room again once they are answered");
});

test.run();
