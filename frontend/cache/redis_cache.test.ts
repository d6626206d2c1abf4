// The Redis backend against a real redis-server this test starts on a free port (or REDIS_URL
// when set): the shared conformance suite, then what only Redis has: frontends sharing one
// store, Redis down or restarted, and a failed write leaving the cache in doubt.

import { randomUUID } from "node:crypto";
import { spawnSync } from "node:child_process";
import * as net from "node:net";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Logger } from "../../lib/log.ts";
import { defineCacheConformance, stock, ticketFor } from "../../test/support/cache_conformance.ts";
import { waitFor } from "../../test/support/wait.ts";
import { freePort } from "../../lib/service_process.ts";
import type { Program } from "../../test/support/processes.ts";
import { startRedis } from "../../test/support/processes.ts";
import type { CacheEventSink } from "./cache.ts";
import { redactUrl, RedisCache, redisCallTimeoutMs, redisRepairIntervalMs, withTimeout } from "./redis_cache.ts";

const log = new Logger("redis-cache-test", {}, "error");
const redisBinary = spawnSync("redis-server", ["--version"]).status === 0;
const external = process.env["REDIS_URL"];

let shared: Program | undefined;
const caches: RedisCache[] = [];

async function sharedUrl(): Promise<string> {
  if (external) return external;
  shared ??= await startRedis();
  return `redis://127.0.0.1:${shared.port}`;
}

/**
 * Call deadline in cases that do not test deadlines: generous, so a redis-server descheduled for a
 * moment on a busy machine does not turn a hit into a bypass (the production default is 100 ms).
 */
const testCallTimeoutMs = 2_000;

/** A cache on its own key prefix (so cases never see each other), connected before it is returned. */
async function openCache(
  url: string,
  options: { capacity: number; trackedNamesMax?: number; onEvent?: CacheEventSink; keyPrefix?: string; callTimeoutMs?: number },
): Promise<RedisCache> {
  const cache = new RedisCache({
    url,
    log,
    keyPrefix: options.keyPrefix ?? `test:${randomUUID()}:{cache}:`,
    callTimeoutMs: testCallTimeoutMs,
    ...options,
  });
  caches.push(cache);
  await waitFor(() => cache.connected, 5_000, "redis connection");
  return cache;
}

async function closeAll(): Promise<void> {
  for (const cache of caches.splice(0)) await cache.close();
}

const conformance = suite("redis conformance");
async function stopShared(): Promise<void> {
  await closeAll();
  await shared?.kill();
  shared = undefined;
}
conformance.after(stopShared);
defineCacheConformance(conformance, async (options) => openCache(await sharedUrl(), options));
conformance.run();

const redis = suite("redis");
let own: Program | undefined;
redis.after.each(async () => {
  await closeAll();
  await own?.kill();
  own = undefined;
});
redis.after(stopShared);

async function ownRedis(port?: number): Promise<{ server: Program; url: string }> {
  own = await startRedis(port);
  return { server: own, url: `redis://127.0.0.1:${own.port}` };
}

redis("frontends sharing a prefix share entries, and a drop by one refuses the other's fill", async () => {
  const url = await sharedUrl();
  const keyPrefix = `test:${randomUUID()}:{cache}:`;
  const a = await openCache(url, { capacity: 3, keyPrefix });
  const b = await openCache(url, { capacity: 3, keyPrefix });
  assert.is(await a.fill(await ticketFor(a, "A"), stock("A", 1)), "filled");
  assert.equal(await b.get("A"), { kind: "hit", stock: stock("A", 1) });
  const inFlightAtB = await ticketFor(b, "B");
  await a.drop("B");
  assert.is(await b.fill(inFlightAtB, stock("B", 1)), "dropped");
  const stale = await ticketFor(b, "C");
  await a.invalidate("C", 2);
  assert.is(await b.fill(stale, stock("C", 1)), "stale");
});

if (redisBinary) {
  redis("with Redis down, lookups bypass quickly and nothing throws", async () => {
    const { server, url } = await ownRedis();
    const cache = await openCache(url, { capacity: 2 });
    const ticket = await ticketFor(cache, "A");
    await server.kill();
    await waitFor(() => !cache.connected, 5_000, "disconnect");
    const started = Date.now();
    assert.equal(await cache.get("A"), { kind: "bypass", reason: "redis unavailable" });
    assert.is(await cache.fill(ticket, stock("A", 1)), "unavailable");
    assert.is((await cache.stats()).state, "unavailable");
    assert.ok(Date.now() - started < 1_000, "bypassing must not wait for Redis");
  });

  redis("a failed invalidate puts the cache in doubt until a clear succeeds", async () => {
    const { server, url } = await ownRedis();
    const cache = await openCache(url, { capacity: 2, callTimeoutMs: redisCallTimeoutMs });
    assert.is(await cache.fill(await ticketFor(cache, "A"), stock("A", 1)), "filled");
    assert.is(await cache.fill(await ticketFor(cache, "B"), stock("B", 1)), "filled");
    // Simulate a partition: the cache cannot apply the invalidation, while the stale entry
    // survives in Redis (a paused server keeps its data).
    process.kill(server.child.pid as number, "SIGSTOP");
    try {
      await cache.invalidate("A", 2);
      assert.is((await cache.stats()).state, "unavailable");
      // In doubt, a lookup first tries the repairing clear; while that fails too, it bypasses.
      assert.equal(await cache.get("B"), { kind: "bypass", reason: "redis unavailable" });
    } finally {
      process.kill(server.child.pid as number, "SIGCONT");
    }
    // Once Redis answers again the repair timer clears, lookups or not: the pre-trade entry is
    // gone, not served. (Commands sent during the pause, the lookup's repairing clear included, may
    // run late; what shows the repair is the state: only a clear that succeeded ends the doubt.)
    await waitFor(async () => (await cache.stats()).state === "ok", 10 * redisRepairIntervalMs, "the repairing clear");
    assert.is((await cache.get("A")).kind, "miss");
    assert.is((await cache.get("B")).kind, "miss");
    assert.is((await cache.stats()).state, "ok");
  });

  redis("a clear that failed before Redis was up is repaired once it connects, without lookups", async () => {
    // A frontend's first clear (on subscribing) can come before its Redis connection is ready.
    const port = await freePort();
    const cache = new RedisCache({ url: `redis://127.0.0.1:${port}`, log, capacity: 2, keyPrefix: `test:${randomUUID()}:{cache}:` });
    caches.push(cache);
    await cache.clear();
    assert.is((await cache.stats()).state, "unavailable");
    await ownRedis(port);
    await waitFor(async () => (await cache.stats()).state === "ok", 10_000, "the cache to repair itself");
    assert.is((await cache.get("A")).kind, "miss");
  });

  redis("a ticket taken before a Redis restart cannot fill after it", async () => {
    const { server, url } = await ownRedis();
    const cache = await openCache(url, { capacity: 2 });
    const ticket = await ticketFor(cache, "A");
    await server.kill();
    await ownRedis(server.port);
    await waitFor(() => cache.connected, 10_000, "reconnect");
    assert.is(await cache.fill(ticket, stock("A", 1)), "cleared");
    assert.is(await cache.fill(await ticketFor(cache, "A"), stock("A", 1)), "filled");
  });
}

redis("a reply that arrived while the process was paused beats the call's timer", async () => {
  // Redis answers at once; this process then blocks its event loop past the timeout, so when it
  // looks again the timer is due and the reply is waiting in the socket.
  const url = new URL(await sharedUrl());
  const socket = net.connect(Number(url.port), url.hostname);
  try {
    await new Promise<void>((resolve, reject) => socket.once("connect", resolve).once("error", reject));
    const reply = new Promise<string>((resolve) => socket.once("data", (d: Buffer) => resolve(d.toString())));
    const call = withTimeout(reply, 50);
    socket.write("PING\r\n");
    const until = Date.now() + 300;
    while (Date.now() < until) { /* paused: a GC or a busy core */ }
    assert.is(await call, "+PONG\r\n");
  } finally {
    socket.destroy();
  }
});

redis("the URL's password never reaches a log line", () => {
  assert.is(redactUrl("redis://user:secret@host:6379/0"), "redis://***@host:6379/0");
  assert.is(redactUrl("redis://host:6379"), "redis://host:6379");
});

redis.run();
