// Small HTTP helpers for tests: API calls through the typed client (withClient), raw JSON requests
// over node:http for tests of the wire shapes themselves (a separate implementation from the
// server under test), the frontend's /health as it reads it, and raw-socket exchanges for
// byte-level checks.

import * as http from "node:http";
import * as net from "node:net";
import { StockBazaarClient } from "../../client/stock_bazaar_client.ts";
import { sleep } from "../../lib/sleep.ts";

// deno-lint-ignore no-explicit-any -- a test reads the parsed JSON field by field
export type JsonReply = { status: number; headers: http.IncomingHttpHeaders; body: any };

/** Per-request deadline in tests, so a hung server fails the test instead of hanging it. */
export const testRequestTimeoutMs = 20_000;

export function requestJson(
  base: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
  agent?: http.Agent,
): Promise<JsonReply> {
  const url = new URL(path, base);
  const payload = body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = http.request(url, {
      method,
      timeout: testRequestTimeoutMs,
      ...(agent ? { agent } : {}),
      headers: payload === undefined
        ? headers
        : { "content-type": "application/json", "content-length": String(Buffer.byteLength(payload)), ...headers },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch {
          parsed = text;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: parsed });
      });
    });
    req.on("timeout", () => req.destroy(new Error(`${method} ${path}: timed out`)));
    req.on("error", reject);
    req.end(payload);
  });
}

/** Calls through a StockBazaarClient of their own, closed afterwards: for tests that make a few calls. */
export async function withClient<T>(base: string, calls: (client: StockBazaarClient) => Promise<T>): Promise<T> {
  const client = new StockBazaarClient({ baseUrl: base, deadlineMs: testRequestTimeoutMs });
  try {
    return await calls(client);
  } finally {
    client.close();
  }
}

/** How long a new frontend may take to confirm its invalidation stream (normally milliseconds). */
export const cacheInUseWaitMs = 10_000;

/** The frontend's /health body: `data`, or `error.details` when it answers 503 (undefined if neither). */
export async function frontendHealth<T>(base: string): Promise<T | undefined> {
  return (await withClient(base, (client) => client.health())).data as T | undefined;
}

/**
 * A frontend answers HTTP before its invalidation stream is confirmed; until then lookups bypass
 * its cache, and confirming clears it (a shared Redis included). Whoever counts hits or measures
 * the cache waits for this: `/health` showing the cache subscribed and usable (or turned off).
 */
export async function waitForCacheInUse(base: string): Promise<void> {
  const deadline = Date.now() + cacheInUseWaitMs;
  for (;;) {
    const cache = (await frontendHealth<{ cache?: { backend?: string; subscribed?: boolean; state?: string } }>(base))?.cache;
    if (cache?.backend === "off" || (cache?.subscribed === true && cache.state === "ok")) return;
    if (Date.now() > deadline) {
      throw new Error(`${base}: cache not in use within ${cacheInUseWaitMs} ms; last /health cache: ${JSON.stringify(cache)}`);
    }
    await sleep(20);
  }
}

/** Send raw bytes, collect everything until the server closes or `idleMs` passes. */
export function rawExchange(port: number, data: string | Buffer, idleMs = 500): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1");
    let received = "";
    let timer = setTimeout(() => socket.destroy(), idleMs);
    socket.on("data", (d) => {
      received += d.toString("latin1");
      clearTimeout(timer);
      timer = setTimeout(() => socket.destroy(), idleMs);
    });
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(received);
    });
    socket.on("error", reject);
    socket.write(data);
  });
}
