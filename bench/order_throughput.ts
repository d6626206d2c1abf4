// Benchmark (measures, never passes or fails): acknowledged Place calls per second through the
// order leader, with a real catalog and real replica processes, every order durable (fdatasync)
// on a majority of the replicas before its answer. Run twice: three replicas (the leader
// answers once two logs hold an order) and one replica alone (ORDER_REPLICAS naming only
// itself); their ratio is the cost of replication. The leader is elected as the frontend does
// it: SetLeader to the candidate, which campaigns for the replicas' votes.
//
//   node --import tsx bench/order_throughput.ts    (BENCH_CALLERS=64 BENCH_SECONDS=5)
//
// The callers run in this process (one grpc-js client), on the same machine as the services.

import { readFileSync, rmSync } from "node:fs";
import * as os from "node:os";
import { envInt } from "../lib/config.ts";
import { OrderSide, PlaceStatus } from "../gen/order.ts";
import { percentile } from "../client/client.ts";
import { sleep } from "../lib/sleep.ts";
import { LocalSystem } from "../test/support/local_system.ts";
import { cpuSeconds } from "./lib/systems.ts";

const callers = envInt(process.env, "BENCH_CALLERS", 64, 1, 10_000);
const seconds = envInt(process.env, "BENCH_SECONDS", 5, 1, 600);
/** Calls before the window opens: connections up, JIT warm, batching in steady state. */
const warmupMs = 1_000;
const stocks = ["GameStart", "FishCo", "BoarCo", "MenhirCo", "PotionCo", "DruidCo"];

/** CPU microseconds per acknowledged order, per process, over the measured window. */
function cpuPerOrder(
  before: Map<string, number | undefined>,
  after: Map<string, number | undefined>,
  orders: number,
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, start] of before) {
    const end = after.get(name);
    if (start !== undefined && end !== undefined && orders > 0) out[name] = Math.round(((end - start) * 1e6) / orders);
  }
  return out;
}

type Run = {
  replicas: number;
  ordersPerSecond: number;
  acknowledged: number;
  failed: number;
  latencyMsP50: number;
  latencyMsP99: number;
  /** Every replica's log is the same file with the same last number after the run. */
  logsIdentical: boolean;
  /** CPU µs per acknowledged order in each process (client = this benchmark's callers). */
  cpuUsPerOrder: Record<string, number>;
};

/** One caller: sells and buys of one share, alternating, so quantities stay near 100. */
async function caller(
  cluster: LocalSystem,
  leader: number,
  index: number,
  from: number,
  until: number,
  run: { ok: number; failed: number; latencies: number[] },
): Promise<void> {
  for (let i = 0; Date.now() < until; i++) {
    const started = performance.now();
    const reply = await cluster.grpc.place(leader, {
      requestId: `bench-${index}-${i}`,
      name: stocks[index % stocks.length] as string,
      quantity: 1,
      side: i % 2 === 0 ? OrderSide.ORDER_SIDE_SELL : OrderSide.ORDER_SIDE_BUY,
    }, 10_000).catch(() => undefined);
    if (Date.now() < from) continue;
    if (reply?.status === PlaceStatus.PLACE_OK) {
      run.ok++;
      run.latencies.push(performance.now() - started);
    } else {
      run.failed++;
    }
  }
}

/** Catch-up deadline after the window: followers outside the majority may lag behind a little. */
const catchUpMsMax = 10_000;

/**
 * The replicas' last numbers once every one holds the leader's last order (a follower that was
 * not in the majority catches up in the background), or as they are after catchUpMsMax.
 */
async function caughtUp(cluster: LocalSystem, ids: readonly number[]): Promise<number[]> {
  const deadline = Date.now() + catchUpMsMax;
  for (;;) {
    const lasts = await Promise.all(ids.map((id) => cluster.grpc.health(id).then((h) => h.lastNumber)));
    if (lasts.every((l) => l === lasts[0]) || Date.now() > deadline) return lasts;
    await sleep(50);
  }
}

async function measure(ids: readonly number[]): Promise<Run> {
  const cluster = await LocalSystem.start({ replicaIds: ids, noFrontend: true });
  try {
    for (const id of ids) await cluster.grpc.ready(id);
    const leader = Math.max(...ids);
    await cluster.grpc.setLeader(leader, 1);
    const from = Date.now() + warmupMs;
    const until = from + seconds * 1_000;
    const run = { ok: 0, failed: 0, latencies: [] as number[] };
    const pids = new Map<string, number>([["client", process.pid], ...cluster.pids()]);
    const sample = (): Map<string, number | undefined> => new Map([...pids].map(([name, pid]) => [name, cpuSeconds(pid)]));
    let before = sample();
    setTimeout(() => {
      before = sample();
    }, from - Date.now()).unref();
    await Promise.all(Array.from({ length: callers }, (_, i) => caller(cluster, leader, i, from, until, run)));
    const after = sample();
    const elapsedS = (Date.now() - from) / 1_000;
    const lasts = await caughtUp(cluster, ids);
    await cluster.stopGracefully();
    const files = ids.map((id) => readFileSync(cluster.orderFile(id), "utf8"));
    run.latencies.sort((a, b) => a - b);
    return {
      replicas: ids.length,
      ordersPerSecond: Math.round(run.ok / elapsedS),
      acknowledged: run.ok,
      failed: run.failed,
      latencyMsP50: Number(percentile(run.latencies, 0.5).toFixed(2)),
      latencyMsP99: Number(percentile(run.latencies, 0.99).toFixed(2)),
      logsIdentical: files.every((f) => f === files[0]) && lasts.every((l) => l === lasts[0]),
      cpuUsPerOrder: cpuPerOrder(before, after, run.ok),
    };
  } finally {
    await cluster.stop();
    rmSync(cluster.dataDir, { recursive: true, force: true });
  }
}

const replicated = await measure([1, 2, 3]);
const single = await measure([1]);
const result = {
  benchmark: "order_throughput",
  parameters: { callers, seconds, warmupMs },
  runtime: `node ${process.version}`,
  machine: { cpus: os.availableParallelism(), model: os.cpus()[0]?.model ?? "unknown", platform: `${os.platform()} ${os.release()}` },
  replicated,
  single,
  ratio: Number((replicated.ordersPerSecond / Math.max(1, single.ordersPerSecond)).toFixed(2)),
};
for (const r of [replicated, single]) {
  process.stdout.write(
    `${r.replicas} replica(s): ${r.ordersPerSecond} orders/s (p50 ${r.latencyMsP50} ms, p99 ${r.latencyMsP99} ms, ${r.failed} failed, logs identical: ${r.logsIdentical})\n`,
  );
  process.stdout.write(`  CPU µs per order: ${Object.entries(r.cpuUsPerOrder).map(([k, v]) => `${k} ${v}`).join(", ")}\n`);
}
process.stdout.write(`replicated / single = ${result.ratio}\n${JSON.stringify(result)}\n`);
