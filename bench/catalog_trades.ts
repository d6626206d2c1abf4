// Benchmark (measures, never passes or fails): trades per second through the catalog alone,
// fdatasync on, sent the way the order leader sends them: BENCH_CALLERS concurrent callers
// queue trades, and one sender (test/support/trade_batcher.ts) takes everything queued (up to tradeBatchMax) into one
// TradeBatch at a time on the TradeBatches stream, with one epoch, after_number = the last
// number the catalog returned, and commit_number = after_number (so the uncommitted window
// never refuses). Side by side with the raw fdatasync rate of one file on the same disk: their
// ratio shows what batching buys (above 1, one flush serves several trades). A second figure,
// the same sender against the Store in this process (no gRPC), shows how much of the cost is
// the disk.
//
//   node --import tsx bench/catalog_trades.ts    (BENCH_CALLERS=64 BENCH_SECONDS=5)
//
// The order replicas are not involved: there is no log to append to, so this is the ceiling
// the catalog puts on the whole system's trade rate.

import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { TradeBatchReply, TradeBatchRequest } from "../gen/catalog.ts";
import { Side, TradeStatus } from "../gen/catalog.ts";
import { envInt } from "../lib/config.ts";
import { Logger, parseLogLine } from "../lib/log.ts";
import { tradeBatchMax } from "../lib/protocol.ts";
import { StreamCaller } from "../lib/stream_calls.ts";
import { initialStocks } from "../catalog/initial_stocks.ts";
import { percentile } from "../client/client.ts";
import { catalogClient } from "../test/support/grpc_calls.ts";
import { startCatalog } from "../test/support/processes.ts";
import { TradeBatcher } from "../test/support/trade_batcher.ts";
import { appendFdatasyncSamples } from "./lib/floor.ts";
import { Store } from "../catalog/store.ts";

const callers = envInt(process.env, "BENCH_CALLERS", 64, 1, 10_000);
const seconds = envInt(process.env, "BENCH_SECONDS", 5, 1, 600);
const callTimeoutMs = 10_000;
/** The one leader epoch of the run: the catalog never sees another, so it never refuses one. */
const epoch = 1;

type LoadResult = { ok: number; failed: number; latenciesMs: number[]; batches: number };

/** Every caller alternates sell and buy of one share of its stock, so quantities stay near 100. */
async function runCallers(sender: TradeBatcher, prefix: string): Promise<LoadResult> {
  const run: LoadResult = { ok: 0, failed: 0, latenciesMs: [], batches: 0 };
  const until = Date.now() + seconds * 1000;
  const batchesBefore = sender.batches;
  await Promise.all(Array.from({ length: callers }, async (_, index) => {
    const stock = initialStocks[index % initialStocks.length];
    if (stock === undefined) throw new Error("no stocks");
    for (let i = 0; Date.now() < until; i++) {
      const started = performance.now();
      const reply = await sender.submit({
        requestId: `${prefix}-${index}-${i}`,
        name: stock.name,
        side: i % 2 === 0 ? Side.SIDE_SELL : Side.SIDE_BUY,
        quantity: 1,
      });
      run.latenciesMs.push(performance.now() - started);
      if (reply.status === TradeStatus.TRADE_OK) run.ok++;
      else run.failed++;
    }
  }));
  run.batches = sender.batches - batchesBefore;
  return run;
}

async function measureTrades(dir: string): Promise<LoadResult & { flushes: number | undefined }> {
  const catalog = await startCatalog({ DATA_DIR: dir, LOG_LEVEL: "info" });
  const client = catalogClient(catalog.port);
  const stream = new StreamCaller<TradeBatchRequest, TradeBatchReply>(() => client.tradeBatches());
  let run: LoadResult;
  try {
    run = await runCallers(new TradeBatcher((header, trades) => stream.call({ ...header, trades }, callTimeoutMs), epoch, 1), "bench");
  } finally {
    stream.close();
    client.close();
    catalog.kill("SIGTERM");
    await catalog.exited;
  }
  // The catalog logs its flush count when it closes its store.
  const closed = catalog.output().split("\n").map(parseLogLine).find((r) => r?.["msg"] === "catalog store closed");
  return { ...run, flushes: typeof closed?.["flushes"] === "number" ? closed["flushes"] : undefined };
}

/** The same callers and sender calling Store.tradeBatch directly: batching and fdatasync, no gRPC. */
async function measureStore(dir: string): Promise<LoadResult & { flushes: number }> {
  const store = await Store.open({ dir, log: new Logger("bench", {}, "warn") });
  const flushesBefore = store.journalFlushes;
  const run = await runCallers(new TradeBatcher((header, trades) => store.tradeBatch(header, trades), epoch, 1), "store");
  const flushes = store.journalFlushes - flushesBefore;
  await store.close();
  return { ...run, flushes };
}

/** Appends + fdatasyncs of a small record, in a loop, for the same time on the same disk. */
async function measureFdatasync(dir: string): Promise<number> {
  return (await appendFdatasyncSamples(dir, { warmups: 0, samplesMax: Number.MAX_SAFE_INTEGER, durationMsMax: seconds * 1000 })).length;
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-catalog-"));
  try {
    const trades = await measureTrades(path.join(dir, "grpc"));
    const inProcess = await measureStore(path.join(dir, "store"));
    const syncs = await measureFdatasync(dir);
    const sorted = trades.latenciesMs.sort((a, b) => a - b);
    const tradesPerSecond = trades.ok / seconds;
    const syncsPerSecond = syncs / seconds;
    const cpu = os.cpus()[0]?.model ?? "unknown cpu";
    process.stdout.write([
      `catalog TradeBatch over gRPC (TradeBatches stream), fdatasync on: ${callers} callers, one sender, batches of up to ${tradeBatchMax}, ${seconds} s, node ${process.version}, ${os.availableParallelism()} x ${cpu}, data in ${dir}`,
      `  trades/s            ${tradesPerSecond.toFixed(0)} (ok ${trades.ok}, failed ${trades.failed})`,
      `  latency ms          p50 ${percentile(sorted, 0.5).toFixed(2)}  p99 ${percentile(sorted, 0.99).toFixed(2)}`,
      `  batches             ${trades.batches} (${(trades.ok / Math.max(1, trades.batches)).toFixed(1)} trades per batch)`,
      `  catalog flushes     ${trades.flushes ?? "?"} (includes the few of start and shutdown)`,
      `Store.tradeBatch in one process (no gRPC), same callers and time`,
      `  trades/s            ${(inProcess.ok / seconds).toFixed(0)} (${
        (inProcess.ok / Math.max(1, inProcess.flushes)).toFixed(1)
      } trades per flush)`,
      `raw append + fdatasync of one file, same disk, ${seconds} s`,
      `  fdatasync/s         ${syncsPerSecond.toFixed(0)}`,
      `ratio trades/s : fdatasync/s = ${(tradesPerSecond / syncsPerSecond).toFixed(2)}`,
      "",
    ].join("\n"));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

await main();
