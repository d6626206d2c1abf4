// lib/grpc_health.ts over real gRPC on 127.0.0.1, called by the client generated from
// protos/health.proto: Check follows readiness and refuses unknown names, Watch sends the status
// and each change, SERVICE_UNKNOWN for unknown names, the watcher bound, and shutdown.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { HealthClient } from "../gen/health.ts";
import type { HealthCheckResponse } from "../gen/health.ts";
import { bindServer, callUnary, grpc, isServiceError, shutdownServer } from "./grpc.ts";
import { addHealthService, GrpcHealth, ServingStatus } from "./grpc_health.ts";
import { waitFor } from "../test/support/wait.ts";

const callTimeoutMs = 5_000;
const testPollMs = 20;
const testWatchersMax = 2;
const serviceName = "test.Example";

type Harness = { health: GrpcHealth; client: HealthClient; server: grpc.Server; setReady(ready: boolean | Error): void };

async function harness(): Promise<Harness> {
  let ready: boolean | Error = true;
  const health = new GrpcHealth({
    services: [serviceName],
    ready: () => {
      if (ready instanceof Error) throw ready;
      return Promise.resolve(ready);
    },
    pollMs: testPollMs,
    watchersMax: testWatchersMax,
  });
  const server = new grpc.Server();
  addHealthService(server, health);
  const port = await bindServer(server, "127.0.0.1", 0);
  const client = new HealthClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  return { health, client, server, setReady: (r) => (ready = r) };
}

async function stop(h: Harness): Promise<void> {
  h.health.shutdown();
  h.client.close();
  await shutdownServer(h.server);
}

function check(h: Harness, service: string): Promise<ServingStatus> {
  return callUnary<{ service: string }, HealthCheckResponse>(h.client, h.client.check, { service }, callTimeoutMs).then((r) => r.status);
}

async function checkError(h: Harness, service: string): Promise<grpc.status> {
  try {
    await check(h, service);
  } catch (err) {
    if (isServiceError(err)) return err.code;
    throw err;
  }
  throw new Error("the check succeeded");
}

/** A Watch stream and every status it received so far. */
function watch(h: Harness, service: string): { seen: ServingStatus[]; ended: Promise<grpc.status | "end">; cancel(): void } {
  const call = h.client.watch({ service });
  const seen: ServingStatus[] = [];
  call.on("data", (r: HealthCheckResponse) => seen.push(r.status));
  const ended = new Promise<grpc.status | "end">((resolve) => {
    call.on("error", (err: grpc.ServiceError) => resolve(err.code));
    call.on("end", () => resolve("end"));
  });
  return { seen, ended, cancel: () => call.cancel() };
}

test("Check answers SERVING or NOT_SERVING from readiness, for the server and each named service", async () => {
  const h = await harness();
  try {
    assert.is(await check(h, ""), ServingStatus.SERVING);
    assert.is(await check(h, serviceName), ServingStatus.SERVING);
    h.setReady(false);
    assert.is(await check(h, ""), ServingStatus.NOT_SERVING);
    assert.is(await check(h, serviceName), ServingStatus.NOT_SERVING);
    h.setReady(new Error("the store failed"));
    assert.is(await check(h, ""), ServingStatus.NOT_SERVING, "a readiness test that throws means not serving");
    assert.is(await checkError(h, "no.Such"), grpc.status.NOT_FOUND, "an unknown name fails with NOT_FOUND");
  } finally {
    await stop(h);
  }
});

test("Watch sends the status at once, then each change, once per change", async () => {
  const h = await harness();
  try {
    const w = watch(h, "");
    await waitFor(() => w.seen.length === 1, callTimeoutMs, "the first status");
    assert.equal(w.seen, [ServingStatus.SERVING]);
    h.setReady(false);
    await waitFor(() => w.seen.length === 2, callTimeoutMs, "the change");
    h.setReady(true);
    await waitFor(() => w.seen.length === 3, callTimeoutMs, "the change back");
    assert.equal(w.seen, [ServingStatus.SERVING, ServingStatus.NOT_SERVING, ServingStatus.SERVING]);
    w.cancel();
    await waitFor(() => h.health.watcherCount === 0, callTimeoutMs, "the cancelled watcher to be forgotten");
  } finally {
    await stop(h);
  }
});

test("Watch of an unknown name answers SERVICE_UNKNOWN and stays open", async () => {
  const h = await harness();
  try {
    const w = watch(h, "no.Such");
    await waitFor(() => w.seen.length === 1, callTimeoutMs, "the first status");
    assert.equal(w.seen, [ServingStatus.SERVICE_UNKNOWN]);
    h.setReady(false);
    assert.is(await check(h, ""), ServingStatus.NOT_SERVING);
    await waitFor(() => h.health.watcherCount === 1, callTimeoutMs, "the watcher to stay");
    assert.equal(w.seen, [ServingStatus.SERVICE_UNKNOWN], "a readiness change is not news to it");
    w.cancel();
  } finally {
    await stop(h);
  }
});

test("Watch streams are bounded: one more is refused with RESOURCE_EXHAUSTED", async () => {
  const h = await harness();
  try {
    const open = Array.from({ length: testWatchersMax }, () => watch(h, ""));
    await waitFor(() => open.every((w) => w.seen.length === 1), callTimeoutMs, "every watcher's first status");
    const refused = watch(h, "");
    assert.is(await refused.ended, grpc.status.RESOURCE_EXHAUSTED);
    assert.is(h.health.watcherCount, testWatchersMax);
    for (const w of open) w.cancel();
    await waitFor(() => h.health.watcherCount === 0, callTimeoutMs, "the cancelled watchers to be forgotten");
    const again = watch(h, "");
    await waitFor(() => again.seen.length === 1, callTimeoutMs, "room for a new watcher");
    again.cancel();
  } finally {
    await stop(h);
  }
});

test("shutdown tells every watcher NOT_SERVING and ends its stream; Check answers NOT_SERVING", async () => {
  const h = await harness();
  try {
    const w = watch(h, serviceName);
    await waitFor(() => w.seen.length === 1, callTimeoutMs, "the first status");
    h.health.shutdown();
    assert.is(await w.ended, "end");
    assert.equal(w.seen, [ServingStatus.SERVING, ServingStatus.NOT_SERVING]);
    assert.is(await check(h, ""), ServingStatus.NOT_SERVING, "ready or not, a stopping server does not serve");
    assert.is(h.health.watcherCount, 0);
  } finally {
    await stop(h);
  }
});

test("a service name that is not a gRPC name is a bug in the caller", () => {
  assert.throws(() => new GrpcHealth({ services: ["bad name"], ready: () => true }), /not a gRPC service name/);
});

test.run();
