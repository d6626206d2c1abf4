// Benchmark (measures, never passes or fails): trades per second through the catalog's gRPC
// Trade call with fdatasync on, from many concurrent callers against a real catalog process,
// side by side with the raw fdatasync rate of one file on the same disk. Their ratio shows
// what group commit buys: above 1, one flush serves several trades.
//
//   node --import tsx bench/catalog_trades.ts    (BENCH_CALLERS=64 BENCH_SECONDS=5 BENCH_LOADERS=2)
//
// The callers run in BENCH_LOADERS separate processes (this file with `--load`), because one
// grpc-js client process spends more CPU per call than the catalog does and would otherwise be
// what is measured. All loaders share one absolute time window. A third figure, the same
// trades against the Store in this process (no gRPC), shows how much of the gap is the disk.

import { Buffer } from "node:buffer";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import type { CatalogClient } from "../gen/catalog.ts";
import { CatalogClient as CatalogClientCtor, Side, TradeStatus } from "../gen/catalog.ts";
import { envInt, envString } from "../lib/config.ts";
import { callUnary, channelOptions, grpc } from "../lib/grpc.ts";
import { Logger } from "../lib/log.ts";
import { initialStocks } from "../catalog/initial_stocks.ts";
import { spawnCatalog } from "../catalog/spawn_catalog.ts";
import { Store } from "../catalog/store.ts";

const callers = envInt(process.env, "BENCH_CALLERS", 64, 1, 10_000);
const seconds = envInt(process.env, "BENCH_SECONDS", 5, 1, 600);
/** Leave one core to the catalog; more loaders than cores only measure the scheduler. */
const loaders = envInt(process.env, "BENCH_LOADERS", Math.max(1, Math.min(4, os.availableParallelism() - 1)), 1, 64);
const callTimeoutMs = 10_000;
/** Loaders need this long to start (tsx) and connect before the common window opens. */
const warmupMs = 3_000;

type LoadResult = { ok: number; failed: number; latenciesMs: number[] };

/** One caller: alternate sell and buy of one share of its stock, so quantities stay near 100. */
async function caller(client: CatalogClient, index: number, until: number, run: LoadResult): Promise<void> {
  const stock = initialStocks[index % initialStocks.length];
  if (stock === undefined) throw new Error("no stocks");
  for (let i = 0; Date.now() < until; i++) {
    const started = performance.now();
    const reply = await callUnary(client, client.trade, {
      requestId: `bench-${index}-${i}`,
      name: stock.name,
      side: i % 2 === 0 ? Side.SIDE_SELL : Side.SIDE_BUY,
      quantity: 1,
    }, callTimeoutMs);
    run.latenciesMs.push(performance.now() - started);
    if (reply.status === TradeStatus.TRADE_OK) run.ok++;
    else run.failed++;
  }
}

/** `--load`: run callers [first, first+count) against BENCH_TARGET in [startAt, endAt). */
async function load(): Promise<void> {
  const target = envString(process.env, "BENCH_TARGET", "127.0.0.1:50051");
  const first = envInt(process.env, "BENCH_FIRST", 0, 0, 1_000_000);
  const count = envInt(process.env, "BENCH_COUNT", 1, 1, 10_000);
  const startAt = envInt(process.env, "BENCH_START_AT", 0, 0, Number.MAX_SAFE_INTEGER);
  const endAt = envInt(process.env, "BENCH_END_AT", 0, 0, Number.MAX_SAFE_INTEGER);
  const client = new CatalogClientCtor(target, grpc.credentials.createInsecure(), channelOptions);
  await callUnary(client, client.health, {}, callTimeoutMs);
  await new Promise((r) => setTimeout(r, Math.max(0, startAt - Date.now())));
  const run: LoadResult = { ok: 0, failed: 0, latenciesMs: [] };
  await Promise.all(Array.from({ length: count }, (_, i) => caller(client, first + i, endAt, run)));
  client.close();
  process.stdout.write(`${JSON.stringify(run)}\n`);
}

function runLoader(target: string, first: number, count: number, startAt: number, endAt: number): Promise<LoadResult> {
  const child = spawn(process.execPath, ["--import", "tsx", fileURLToPath(import.meta.url), "--load"], {
    env: { ...process.env, BENCH_TARGET: target, BENCH_FIRST: String(first), BENCH_COUNT: String(count),
      BENCH_START_AT: String(startAt), BENCH_END_AT: String(endAt) },
    stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "";
  child.stdout.on("data", (d: Buffer) => { out += d.toString(); });
  return new Promise((resolve, reject) => {
    child.on("exit", (code) => {
      if (code === 0) resolve(JSON.parse(out) as LoadResult);
      else reject(new Error(`loader ${first} exited with ${code}`));
    });
  });
}

async function measureTrades(dir: string): Promise<LoadResult & { flushes: number | undefined }> {
  const catalog = await spawnCatalog({ DATA_DIR: dir, LOG_LEVEL: "info" });
  const total: LoadResult = { ok: 0, failed: 0, latenciesMs: [] };
  try {
    const startAt = Date.now() + warmupMs;
    const endAt = startAt + seconds * 1000;
    const share = Math.ceil(callers / loaders);
    const runs = [];
    for (let first = 0; first < callers; first += share) {
      runs.push(runLoader(catalog.address, first, Math.min(share, callers - first), startAt, endAt));
    }
    for (const run of await Promise.all(runs)) {
      total.ok += run.ok;
      total.failed += run.failed;
      total.latenciesMs.push(...run.latenciesMs);
    }
  } finally {
    catalog.kill("SIGTERM");
    await catalog.exited;
  }
  // The catalog logs its flush count when it closes its store; the count includes the few
  // flushes of start and warm-up, so trades per flush is slightly understated.
  const match = /\bflushes=(\d+)\b.*catalog store closed/.exec(catalog.output());
  return { ...total, flushes: match ? Number(match[1]) : undefined };
}

/** The same callers calling Store.trade directly: group commit and fdatasync, no gRPC. */
async function measureStore(dir: string): Promise<{ ok: number; flushes: number }> {
  const store = await Store.open({ dir, log: new Logger("bench", {}, "warn") });
  const flushesBefore = store.journalFlushes;
  const until = Date.now() + seconds * 1000;
  let ok = 0;
  await Promise.all(Array.from({ length: callers }, async (_, index) => {
    const stock = initialStocks[index % initialStocks.length] ?? initialStocks[0];
    for (let i = 0; Date.now() < until; i++) {
      const side = i % 2 === 0 ? Side.SIDE_SELL : Side.SIDE_BUY;
      const reply = await store.trade({ requestId: `store-${index}-${i}`, name: stock?.name ?? "", side, quantity: 1 });
      if (reply.status === TradeStatus.TRADE_OK) ok++;
    }
  }));
  const flushes = store.journalFlushes - flushesBefore;
  await store.close();
  return { ok, flushes };
}

/** Append a small line and fdatasync it, in a loop, for the same time on the same disk. */
function measureFdatasync(dir: string): number {
  const fd = fs.openSync(path.join(dir, "fdatasync-probe.csv"), "a");
  const line = Buffer.from("bench-0-0,GameStart,sell,1,101,1,1\n");
  const until = Date.now() + seconds * 1000;
  let count = 0;
  try {
    while (Date.now() < until) {
      fs.writeSync(fd, line);
      fs.fdatasyncSync(fd);
      count++;
    }
  } finally {
    fs.closeSync(fd);
  }
  return count;
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? Number.NaN;
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-catalog-"));
  try {
    const trades = await measureTrades(path.join(dir, "grpc"));
    const inProcess = await measureStore(path.join(dir, "store"));
    const syncs = measureFdatasync(dir);
    const sorted = trades.latenciesMs.sort((a, b) => a - b);
    const tradesPerSecond = trades.ok / seconds;
    const syncsPerSecond = syncs / seconds;
    const cpu = os.cpus()[0]?.model ?? "unknown cpu";
    process.stdout.write([
      `catalog Trade over gRPC, fdatasync on: ${callers} callers in ${loaders} processes, ${seconds} s, node ${process.version}, ${os.availableParallelism()} x ${cpu}, data in ${dir}`,
      `  trades/s            ${tradesPerSecond.toFixed(0)} (ok ${trades.ok}, failed ${trades.failed})`,
      `  latency ms          p50 ${percentile(sorted, 0.5).toFixed(2)}  p99 ${percentile(sorted, 0.99).toFixed(2)}`,
      `  catalog flushes     ${trades.flushes ?? "?"} (${trades.flushes ? (trades.ok / trades.flushes).toFixed(1) : "?"} trades per flush)`,
      `Store.trade in one process (no gRPC), same callers and time`,
      `  trades/s            ${(inProcess.ok / seconds).toFixed(0)} (${(inProcess.ok / Math.max(1, inProcess.flushes)).toFixed(1)} trades per flush)`,
      `raw append + fdatasync of one file, same disk, ${seconds} s`,
      `  fdatasync/s         ${syncsPerSecond.toFixed(0)}`,
      `ratio trades/s : fdatasync/s = ${(tradesPerSecond / syncsPerSecond).toFixed(2)}`,
      "",
    ].join("\n"));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv.includes("--load")) await load();
else await main();
