// The Redis cache backend (REDIS_URL): the same LRU and version checks as lru_cache.ts, kept in
// Redis by the Lua scripts of redis_scripts.ts so several frontends can share entries. Every
// call runs under redisCallTimeoutMs; when Redis is down or slow, lookups bypass the cache
// instead of failing. It does not decide when to clear: the subscriber does.

import { randomUUID } from "node:crypto";
import { setImmediate } from "node:timers";
import { createClient } from "redis";
import { assert } from "../../lib/assert.ts";
import { errorText } from "../../lib/grpc.ts";
import type { Logger } from "../../lib/log.ts";
import type {
  BackendName,
  CacheEvent,
  CacheEventSink,
  CacheGet,
  CacheStats,
  FillOutcome,
  FillTicket,
  StockCache,
  StockView,
} from "./cache.ts";
import { cacheSizeMax, cacheTrackedNamesMax, fillOutcomes, isValidStockView } from "./cache.ts";
import type { RedisScript } from "./redis_scripts.ts";
import { clearScript, dropScript, fillScript, getScript, invalidateScript } from "./redis_scripts.ts";

/** A local Redis answers in well under a millisecond; past this the cache is not worth waiting for. */
export const redisCallTimeoutMs = 100;
export const redisConnectTimeoutMs = 1_000;
/** Reconnect backoff: doubles from the first delay up to the max, for as long as the frontend runs. */
export const redisReconnectDelayMsFirst = 50;
export const redisReconnectDelayMsMax = 2_000;
/** After a failed write leaves the store in doubt, how often the repairing clear is tried (lookups or not). */
export const redisRepairIntervalMs = 500;
/** Errors while Redis is down repeat on every reconnect; log one per this interval. */
export const redisErrorLogIntervalMs = 10_000;
/** Keys listed by stats(): /health stays small even with a large CACHE_SIZE. */
export const statsKeysMax = 1_000;
export const redisKeyPrefixDefault = "stockbazaar:{cache}:";

export type RedisCacheOptions = {
  readonly url: string;
  readonly capacity: number;
  readonly log: Logger;
  /** Frontends that should share entries use the same prefix (and the same capacity). */
  readonly keyPrefix?: string;
  readonly callTimeoutMs?: number;
  readonly onEvent?: CacheEventSink;
  readonly trackedNamesMax?: number;
};

export class RedisUnavailableError extends Error {
  readonly code = "ERR_CACHE_REDIS_UNAVAILABLE";
  constructor(message: string) {
    super(message);
    this.name = "RedisUnavailableError";
  }
}

type RedisClient = ReturnType<typeof createClient>;

export class RedisCache implements StockCache {
  readonly backend: BackendName = "redis";
  readonly capacity: number;
  private readonly client: RedisClient;
  private readonly keys: string[];
  private readonly log: Logger;
  private readonly callTimeoutMs: number;
  private readonly trackedNamesMax: number;
  private readonly onEvent: CacheEventSink | undefined;
  /** Set when an invalidate, drop or clear may not have been applied: bypass until a clear works. */
  private inDoubt = false;
  /** Counts failed writes, so a clear that raced with a later failure does not end the doubt. */
  private failedWrites = 0;
  private repairAttemptAt = 0;
  private repairing: Promise<boolean> | undefined;
  /** Runs while in doubt, so the cache repairs itself without waiting for a lookup. */
  private repairTimer: ReturnType<typeof setInterval> | undefined;
  private errorLoggedAt = 0;
  private hits = 0;
  private misses = 0;
  private evictions = 0;
  private closed = false;

  constructor(options: RedisCacheOptions) {
    if (!Number.isSafeInteger(options.capacity) || options.capacity < 1 || options.capacity > cacheSizeMax) {
      throw new RangeError(`Redis cache capacity must be an integer from 1 to ${cacheSizeMax} (got ${options.capacity})`);
    }
    this.capacity = options.capacity;
    this.log = options.log;
    this.callTimeoutMs = options.callTimeoutMs ?? redisCallTimeoutMs;
    this.trackedNamesMax = options.trackedNamesMax ?? cacheTrackedNamesMax;
    this.onEvent = options.onEvent;
    const prefix = options.keyPrefix ?? redisKeyPrefixDefault;
    this.keys = ["entries", "lru", "floors", "drops", "meta"].map((k) => `${prefix}${k}`);
    this.client = createClient({
      url: options.url,
      // Fail a command at once while disconnected instead of queueing it for later: a queued
      // fill or invalidate arriving much later is exactly what the checks are there to stop.
      disableOfflineQueue: true,
      socket: {
        connectTimeout: redisConnectTimeoutMs,
        reconnectStrategy: (retries: number) => Math.min(redisReconnectDelayMsFirst * 2 ** Math.min(retries, 16), redisReconnectDelayMsMax),
      },
    });
    this.client.on("error", (err: unknown) => this.logError("redis error", err));
    this.client.on("ready", () => {
      this.log.info("redis cache connected", { url: redactUrl(options.url) });
      // A clear that failed while disconnected (the first one may come before the connection
      // is ready) is repaired now rather than at the next tick of the repair timer.
      if (this.inDoubt) this.repairInBackground();
    });
    // connect() settles once the first connection is ready; until then calls bypass the cache.
    this.client.connect().catch((err: unknown) => this.logError("redis connect failed", err));
  }

  /** Connected to Redis and ready for commands (the cache may still be in doubt). */
  get connected(): boolean {
    return !this.closed && this.client.isReady;
  }

  async get(name: string): Promise<CacheGet> {
    if (!(await this.usable())) return { kind: "bypass", reason: "redis unavailable" };
    let reply: unknown;
    try {
      reply = await this.run(getScript, [name, randomUUID()]);
    } catch (err) {
      this.logError("redis get failed", err);
      return { kind: "bypass", reason: "redis unavailable" };
    }
    const parts = asArray(reply);
    if (parts[0] === 1) {
      const stock = parseStock(parts[1], name);
      // Only our scripts write entries, but a shared Redis is outside this process: a foreign
      // value is an operating error, answered by asking the catalog.
      if (stock === undefined) return { kind: "bypass", reason: "redis holds a bad entry" };
      this.hits++;
      this.emit({ kind: "hit", name }, true);
      return { kind: "hit", stock };
    }
    this.misses++;
    this.emit({ kind: "miss", name }, false);
    const ticket: FillTicket = { name, drops: Number(parts[1]), epoch: String(parts[2]) };
    return { kind: "miss", ticket };
  }

  async fill(ticket: FillTicket, stock: StockView): Promise<FillOutcome> {
    assert(ticket.name === stock.name, `fill of ${stock.name} with a ticket for ${ticket.name}`);
    assert(isValidStockView(stock), `fill with an invalid stock ${JSON.stringify(stock)}`);
    if (this.inDoubt || !this.client.isReady) return "unavailable";
    let parts: unknown[];
    try {
      parts = asArray(
        await this.run(fillScript, [
          stock.name,
          String(stock.version),
          JSON.stringify(stock),
          String(ticket.drops),
          ticket.epoch,
          String(this.capacity),
          randomUUID(),
        ]),
      );
    } catch (err) {
      this.logError("redis fill failed", err);
      return "unavailable";
    }
    const outcome = parts[0] as FillOutcome;
    assert(fillOutcomes.includes(outcome), `fill script answered ${String(parts[0])}`);
    this.emit({ kind: "fill", name: stock.name, version: stock.version, outcome }, outcome === "filled");
    for (const evicted of parts.slice(1)) {
      this.evictions++;
      this.emit({ kind: "evict", name: String(evicted) }, true);
    }
    return outcome;
  }

  async invalidate(name: string, version: number): Promise<void> {
    const parts = await this.write("invalidate", invalidateScript, [name, String(version), randomUUID(), String(this.trackedNamesMax)]);
    if (parts === undefined) return;
    this.emit({ kind: "invalidate", name, version, removed: parts[0] === 1 }, parts[0] === 1);
    if (parts[1] === 1) this.emit({ kind: "reset", reason: "tracked names bound reached" }, false);
  }

  async drop(name: string): Promise<void> {
    const reset = await this.write("drop", dropScript, [name, randomUUID(), String(this.trackedNamesMax)]);
    if (reset === undefined) return;
    this.emit({ kind: "drop", name }, true);
    if (reset[0] === 1) this.emit({ kind: "reset", reason: "tracked names bound reached" }, false);
  }

  async clear(): Promise<void> {
    const failedBefore = this.failedWrites;
    const done = await this.write("clear", clearScript, [randomUUID()]);
    if (done === undefined) return;
    if (this.failedWrites === failedBefore && this.inDoubt) {
      this.inDoubt = false;
      clearInterval(this.repairTimer);
      this.repairTimer = undefined;
      this.log.info("redis cache repaired by a clear, in use again");
    }
    this.emit({ kind: "clear" }, true);
  }

  /** Runs a write whose loss would leave stale data behind; on failure the cache is in doubt. */
  private async write(what: string, script: RedisScript, args: string[]): Promise<unknown[] | undefined> {
    try {
      const reply = await this.run(script, args);
      return Array.isArray(reply) ? reply : [reply];
    } catch (err) {
      if (!this.inDoubt) this.log.warn("redis cache in doubt, bypassing it until a clear succeeds", { op: what, error: errorText(err) });
      this.inDoubt = true;
      this.failedWrites++;
      if (this.repairTimer === undefined && !this.closed) {
        this.repairTimer = setInterval(() => this.repairInBackground(), redisRepairIntervalMs);
        unrefTimer(this.repairTimer);
      }
      return undefined;
    }
  }

  /** Ready and not in doubt; when in doubt, a lookup may itself try the repair (at most every redisRepairIntervalMs). */
  private async usable(): Promise<boolean> {
    if (this.closed || !this.client.isReady) return false;
    if (!this.inDoubt) return true;
    if (this.repairing) return this.repairing;
    if (Date.now() - this.repairAttemptAt < redisRepairIntervalMs) return false;
    return this.repair();
  }

  /** A repair nobody waits for; clear() reports its own failures, anything else is a bug to log. */
  private repairInBackground(): void {
    this.repair().catch((err: unknown) => this.log.error("redis cache repair failed unexpectedly", { error: errorText(err) }));
  }

  /** One repairing clear at a time; true when the cache is out of doubt afterwards. */
  private repair(): Promise<boolean> {
    if (this.repairing) return this.repairing;
    if (this.closed || !this.client.isReady) return Promise.resolve(!this.inDoubt);
    this.repairAttemptAt = Date.now();
    const repairing = this.clear().then(() => !this.inDoubt).finally(() => {
      this.repairing = undefined;
    });
    this.repairing = repairing;
    return repairing;
  }

  /** EVALSHA, falling back to EVAL once when Redis does not know the script (first use, restart). */
  private async run(script: RedisScript, args: string[]): Promise<unknown> {
    if (this.closed || !this.client.isReady) throw new RedisUnavailableError("redis is not connected");
    const options = { keys: this.keys, arguments: args };
    return withTimeout(
      this.client.evalSha(script.sha1, options).catch((err: unknown) => {
        if (!errorText(err).startsWith("NOSCRIPT")) throw err;
        return this.client.eval(script.source, options);
      }),
      this.callTimeoutMs,
    );
  }

  async stats(): Promise<CacheStats> {
    const base = { backend: this.backend, capacity: this.capacity, hits: this.hits, misses: this.misses, evictions: this.evictions };
    try {
      const keys = await this.cachedKeys();
      const size = keys.length < statsKeysMax
        ? keys.length
        : Number(await withTimeout(this.client.zCard(this.keys[1] as string), this.callTimeoutMs));
      return { ...base, state: this.inDoubt ? "in doubt" : "ok", size, keys };
    } catch {
      return { ...base, state: "unavailable", size: 0, keys: [] };
    }
  }

  private async cachedKeys(): Promise<string[]> {
    if (!this.client.isReady) throw new RedisUnavailableError("redis is not connected");
    const keys = await withTimeout(this.client.zRange(this.keys[1] as string, 0, statsKeysMax - 1), this.callTimeoutMs);
    return keys.map(String);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.repairTimer);
    this.repairTimer = undefined;
    try {
      await withTimeout(this.client.close(), redisConnectTimeoutMs);
    } catch {
      this.client.destroy();
    }
  }

  private emit(event: CacheEvent, changed: boolean): void {
    const sink = this.onEvent;
    if (!sink) return;
    if (!changed) return sink(event, undefined);
    // Listing keys costs a round trip; it is done only when CACHE_LOG asked for events.
    this.cachedKeys().then((keys) => sink(event, keys), () => sink(event, undefined));
  }

  private logError(msg: string, err: unknown): void {
    if (this.closed || Date.now() - this.errorLoggedAt < redisErrorLogIntervalMs) return;
    this.errorLoggedAt = Date.now();
    this.log.warn(msg, { error: errorText(err) });
  }
}

/**
 * The call's result, or RedisUnavailableError after timeoutMs. After a pause of the process (a GC,
 * a busy core) the timer and the reply are both due at once, and the event loop runs timers before
 * it reads sockets: the timer therefore gives its verdict one setImmediate later, after the loop
 * has read what already arrived, so a reply that came in time is not taken for a slow Redis.
 */
export function withTimeout<T>(promise: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => setImmediate(() => reject(new RedisUnavailableError(`redis call timed out after ${timeoutMs} ms`))),
      timeoutMs,
    );
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** A repair timer never keeps a process alive: Node's timers are unref'd, Deno's (numbers) through Deno.unrefTimer. */
function unrefTimer(timer: unknown): void {
  const deno = (globalThis as { Deno?: { unrefTimer?: (id: number) => void } }).Deno;
  if (typeof timer === "number") deno?.unrefTimer?.(timer);
  else (timer as { unref?: () => void }).unref?.();
}

function asArray(reply: unknown): unknown[] {
  assert(Array.isArray(reply), `redis script answered ${JSON.stringify(reply)}`);
  return reply;
}

function parseStock(json: unknown, name: string): StockView | undefined {
  try {
    const stock = JSON.parse(String(json)) as StockView;
    return stock.name === name && isValidStockView(stock) ? stock : undefined;
  } catch {
    return undefined;
  }
}

/** Never log a password from REDIS_URL. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, "//***@");
}
