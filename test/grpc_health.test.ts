// grpc.health.v1 on real processes, called as a probe would (a grpc-js client of
// grpc.health.v1.Health on the service's own gRPC port): the catalog serves until its store
// fails; an order replica serves as a follower, not while it campaigns, and never again once its
// disk failed. Write failures are made real by a directory where the service writes its temp file.

import * as fs from "node:fs";
import * as path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Side } from "../gen/catalog.ts";
import { HealthClient } from "../gen/health.ts";
import type { HealthCheckRequest, HealthCheckResponse } from "../gen/health.ts";
import { callUnary, channelOptions, grpc } from "../lib/grpc.ts";
import { ServingStatus } from "../lib/grpc_health.ts";
import { freePort } from "../lib/service_process.ts";
import type { RunningService } from "../lib/service_process.ts";
import { catalogClient, failureCode, GrpcCalls } from "./support/grpc_calls.ts";
import { killAll, startCatalog, startTracked, tempDir } from "./support/processes.ts";
import { reported } from "./support/hooks.ts";
import { waitFor } from "./support/wait.ts";

const callTimeoutMs = 5_000;
/** Patience for a state change in another process (a campaign times out after 1.5 s). */
const changeWaitMs = 15_000;
const catalogService = "stockbazaar.catalog.Catalog";
const orderService = "stockbazaar.order.Order";

const closers: (() => void)[] = [];

test.after(reported("cleanup", () => {
  for (const close of closers.splice(0)) close();
  killAll();
}));

function healthClient(port: number): HealthClient {
  const client = new HealthClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), channelOptions);
  closers.push(() => client.close());
  return client;
}

function check(client: HealthClient, service: string): Promise<ServingStatus> {
  return callUnary<HealthCheckRequest, HealthCheckResponse>(client, client.check, { service }, callTimeoutMs).then((r) => r.status);
}

/** Every status a Watch stream delivered so far. */
function watch(client: HealthClient, service: string): ServingStatus[] {
  const call = client.watch({ service });
  closers.push(() => call.cancel());
  const seen: ServingStatus[] = [];
  call.on("data", (r: HealthCheckResponse) => seen.push(r.status));
  call.on("error", () => undefined);
  return seen;
}

/** Make the next writeFileAtomic of `file` by process `service` fail: its temp path is a directory. */
function blockReplacement(file: string, service: RunningService): void {
  fs.mkdirSync(`${file}.tmp-${service.pid}`);
}

test("the catalog serves grpc.health.v1 on its gRPC port, and NOT_SERVING once its store failed", async () => {
  const dataDir = tempDir("health-catalog", true);
  const catalog = await startCatalog({ DATA_DIR: dataDir });
  assert.not.match(catalog.output(), "metrics_port=", "no metrics listener unless METRICS_PORT is set");
  const health = healthClient(catalog.port);
  assert.is(await check(health, ""), ServingStatus.SERVING);
  assert.is(await check(health, catalogService), ServingStatus.SERVING);
  assert.is(await failureCode(check(health, orderService)), grpc.status.NOT_FOUND, "a service the catalog does not offer");
  const seen = watch(health, "");
  await waitFor(() => seen.length === 1, callTimeoutMs, "the first Watch status");

  // The first batch of a new leader epoch writes catalog-epoch.txt first; that write fails.
  blockReplacement(path.join(dataDir, "catalog-epoch.txt"), catalog);
  const client = catalogClient(catalog.port);
  closers.push(() => client.close());
  const trade = { requestId: "health-1", name: "GameStart", side: Side.SIDE_BUY, quantity: 1 };
  const batch = { epoch: 1, leaderId: 1, afterNumber: -1, commitNumber: -1, trades: [trade] };
  assert.is(await failureCode(callUnary(client, client.tradeBatch, batch, callTimeoutMs)), grpc.status.UNAVAILABLE);
  assert.is(await check(health, ""), ServingStatus.NOT_SERVING);
  assert.is(await check(health, catalogService), ServingStatus.NOT_SERVING);
  await waitFor(() => seen.length === 2, changeWaitMs, "Watch to report the change");
  assert.equal(seen, [ServingStatus.SERVING, ServingStatus.NOT_SERVING]);
});

test("an order replica is SERVING as a follower, NOT_SERVING while it campaigns and after its disk failed", async () => {
  const ids = [1, 2, 3];
  const ports = new Map<number, number>();
  for (const id of ids) ports.set(id, await freePort());
  const dataDir = tempDir("health-order", true);
  // Replica 3 alone: its peers are down, so a campaign cannot win.
  const replica = await startTracked({
    name: "order-3",
    entry: "order/main.ts",
    env: {
      ORDER_ID: "3",
      PORT: String(ports.get(3)),
      ORDER_REPLICAS: ids.map((id) => `${id}@127.0.0.1:${ports.get(id)}`).join(","),
      CATALOG_ADDR: `127.0.0.1:${await freePort()}`,
      DATA_DIR: dataDir,
      LOG_LEVEL: "info",
    },
  });
  const calls = new GrpcCalls(() => 0, ports);
  closers.push(() => calls.close());
  const health = healthClient(replica.port);
  assert.is(await check(health, ""), ServingStatus.SERVING, "a follower with its log loaded serves");
  assert.is(await check(health, orderService), ServingStatus.SERVING);
  assert.is(await failureCode(check(health, catalogService)), grpc.status.NOT_FOUND);
  const seen = watch(health, orderService);
  await waitFor(() => seen.length === 1, callTimeoutMs, "the first Watch status");

  // Asked to lead, it campaigns without a majority: a candidate does not serve; then it gives up.
  const campaign = failureCode(calls.setLeader(3, 1));
  await waitFor(() => seen.length >= 2, changeWaitMs, "Watch to report the campaign");
  assert.is(await campaign, grpc.status.UNAVAILABLE, "no majority voted");
  await waitFor(() => seen.length >= 3, changeWaitMs, "Watch to report the end of the campaign");
  assert.equal(seen.slice(0, 3), [ServingStatus.SERVING, ServingStatus.NOT_SERVING, ServingStatus.SERVING]);
  assert.is(await check(health, ""), ServingStatus.SERVING);

  // The next campaign's vote cannot be written: the disk failed, and it never serves again.
  blockReplacement(path.join(dataDir, "vote-3.csv"), replica);
  await failureCode(calls.setLeader(3, 2));
  assert.match(replica.output(), "the disk failed", "the replica reports the failed write");
  // The failed campaign ends as the first one did; what keeps the replica NOT_SERVING is the disk.
  await waitFor(async () => (await calls.health(3)).role === "follower", changeWaitMs, "the campaign to end");
  assert.is(await check(health, ""), ServingStatus.NOT_SERVING);
  assert.is(await check(health, orderService), ServingStatus.NOT_SERVING);
  assert.is((await calls.health(3)).ready, false, "its own Health says not ready too");
  await waitFor(() => seen[seen.length - 1] === ServingStatus.NOT_SERVING, changeWaitMs, "Watch to end on NOT_SERVING");
});

test.run();
