// The safety sections of the evaluation report: the real-process chaos campaign (the JSON
// `npm run chaos -- --json docs/chaos.json` writes) and what the quorum protocol changed in the
// benchmark figures against the last report measured with the previous protocol. Pure
// formatting; report.ts appends these sections when docs/chaos.json exists.

import * as fs from "node:fs";
import * as path from "node:path";
import type { RunResult } from "../test/support/chaos_run.ts";
import type { FailoverResult } from "./failover.ts";
import { n } from "./lib/markdown.ts";
import type { ThroughputResult } from "./throughput.ts";

export const chaosFileName = "chaos.json";

/** What `npm run chaos -- --json` writes. */
export type ChaosDocument = {
  readonly options: { readonly runs: number; readonly seed: number; readonly seconds: number };
  /** The commit the campaign ran against (absent in files from before it was recorded). */
  readonly commit?: string;
  readonly node: string;
  readonly platform: string;
  readonly finishedAt: string;
  readonly runs: readonly RunResult[];
};

/**
 * The figures of the last report measured with the previous protocol (primary-backup: the
 * leader waited for every live follower, and answered alone when none was live), commit 48b8a82.
 */
export const previousProtocol = {
  commit: "48b8a82",
  tradesPerSecond: 6_164,
  singleReplicaTradesPerSecond: 7_147,
  leaderKillGapMs: 152,
  /** Trades ÷ the reference server in the same run, and 3 replicas ÷ 1: ratios, less noisy than rates. */
  tradeOverReference: 0.414,
  replicatedOverSingle: 0.862,
} as const;

export function readChaos(dir: string): ChaosDocument | undefined {
  const file = path.join(dir, chaosFileName);
  return fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, "utf8")) as ChaosDocument : undefined;
}

export function chaosSection(doc: ChaosDocument): string[] {
  const runs = doc.runs;
  const sum = (f: (r: RunResult) => number): number => runs.reduce((s, r) => s + f(r), 0);
  const violations = sum((r) => r.violations.length);
  const errors = runs.filter((r) => r.error !== undefined).length;
  const kinds = new Map<string, number>();
  for (const r of runs) for (const f of r.faults) kinds.set(f.kind, (kinds.get(f.kind) ?? 0) + 1);
  const torn = sum((r) => r.faults.filter((f) => f.torn.length > 0).length);
  const first = doc.options.seed;
  const converge = runs.map((r) => r.convergeMs ?? 0).sort((a, b) => a - b);
  return [
    `\`npm run chaos -- --runs ${doc.options.runs} --seed ${first} --seconds ${doc.options.seconds}\` at commit \`${
      doc.commit ?? "unknown"
    }\` (${doc.node}, ${doc.platform}, finished ${doc.finishedAt}).`,
    "Each run starts the whole system as real processes (catalog, 3 replicas, 2 frontends), drives 8 keep-alive clients",
    "trading with `Idempotency-Key` over both frontends, injects seeded faults — SIGKILL and restart, SIGSTOP/SIGCONT of the",
    "leader, a follower, two replicas at once, the catalog and a frontend, torn last lines in killed replicas' logs — then",
    "heals, places one more order, and checks from outside and from the files: byte-identical logs, numbers 0..n−1 with no",
    "gap or duplicate, every acknowledged order at its number, catalog = initial − Σ buys + Σ sells over the log,",
    "read-your-writes after every trade, and every 5xx a 503 with `Retry-After`.",
    "",
    "| figure | value |",
    "|---|---|",
    `| runs (seeds ${first}..${first + runs.length - 1}) | ${runs.length} |`,
    `| **violations** | **${violations}** |`,
    `| runs whose harness failed (prove nothing) | ${errors} |`,
    `| orders acknowledged | ${n(sum((r) => r.acked))} |`,
    `| orders whose outcome a client never learned (retries ran out) | ${n(sum((r) => r.unknown))} |`,
    `| read-your-writes checks | ${n(sum((r) => r.rywChecks))} |`,
    `| faults | ${n(sum((r) => r.faults.length))}: ${
      [...kinds].sort().map(([k, c]) => `${k} ${c}`).join(", ")
    }; ${torn} with a torn last line |`,
    `| after healing: time to the next acknowledged order, worst run | ${n(Math.max(...runs.map((r) => r.finalOrderMs ?? 0)))} ms |`,
    `| after healing: time until every log equals the catalog's sequence, median / worst | ${
      n(converge[Math.floor(converge.length / 2)] ?? 0)
    } / ${n(converge[converge.length - 1] ?? 0)} ms |`,
  ];
}

/** How the quorum protocol moved the headline figures, against the last report of the previous one. */
export function protocolSection(t: ThroughputResult | undefined, f: FailoverResult | undefined): string[] {
  const p = previousProtocol;
  const ratio = (now: number, before: number): string => `${(now / before).toFixed(2)}×`;
  const rows: string[] = [];
  if (t) {
    const trade = t.comparisons.find((c) => c.scenario === "trade");
    if (trade) {
      rows.push(
        `| **trades ÷ the reference server in the same run** (the least noisy figure) | ${trade.ratio}× | ${p.tradeOverReference}× | ${
          ratio(trade.ratio, p.tradeOverReference)
        } |`,
      );
    }
    rows.push(
      `| 3 replicas ÷ 1 replica, same run | ${t.trades.replicatedOverSingle}× | ${p.replicatedOverSingle}× | ${
        ratio(t.trades.replicatedOverSingle, p.replicatedOverSingle)
      } |`,
    );
    rows.push(
      `| trades/s, 3 replicas, ${t.parameters.connections.trade} clients | ${n(t.trades.replicatedPerSecond)} | ${n(p.tradesPerSecond)} | ${
        ratio(t.trades.replicatedPerSecond, p.tradesPerSecond)
      } |`,
    );
    rows.push(
      `| trades/s, 1 replica | ${n(t.trades.single.okPerSecond)} | ${n(p.singleReplicaTradesPerSecond)} | ${
        ratio(t.trades.single.okPerSecond, p.singleReplicaTradesPerSecond)
      } |`,
    );
  }
  if (f) {
    rows.push(
      `| longest time with no trade after SIGKILL of the leader | ${Math.round(f.leaderKillLongestGapMs)} ms | ${p.leaderKillGapMs} ms | ${
        ratio(f.leaderKillLongestGapMs, p.leaderKillGapMs)
      } |`,
    );
  }
  return [
    `Measured against the last report of the previous protocol (commit \`${p.commit}\`, same machine kind). Absolute rates`,
    "from different runs on a shared machine differ a lot on their own (the reference server itself can move by a third),",
    "so the ratios to the same run's reference are the figures to compare.",
    "",
    "| figure | now | previous protocol | now ÷ before |",
    "|---|---|---|---|",
    ...rows,
    "",
    "Why they move:",
    "",
    "- **An order waits for a majority, not for every live follower**: the leader answers once its own fsync and one",
    "  follower's are done, so a slow follower no longer sets the pace (the previous protocol waited for both, and",
    "  answered alone — unsafely — when none was live).",
    "- **One catalog call in flight instead of two**: the catalog numbers trades after the leader's last number, so the",
    "  next batch can only be cut once the previous one is numbered; its replication still overlaps the next catalog call.",
    "  Under load a batch holds everything that arrived during the previous call (no timer), so batches grow with load.",
    "- **Failover is an election**: the new leader needs the durable votes of a majority and must have its log committed",
    "  before it serves, and the frontend waits for an establishing leader instead of electing over it.",
  ];
}
