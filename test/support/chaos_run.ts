// One chaos run: a fresh system (chaos_system.ts), eight trading clients over two frontends
// (chaos_clients.ts) while seeded faults hit every service (chaos_faults.ts), then the final
// checks (chaos_check.ts). Returns what happened; never throws for a violation, and kills every
// process it started however it ends. scripts/chaos.ts runs it N times; test/chaos.test.ts once.

import { StockBazaarClient } from "../../client/stock_bazaar_client.ts";
import * as fs from "node:fs";
import * as path from "node:path";
import { seededRandom } from "../../client/client.ts";
import { checkCatalog, checkLogs, finish } from "./chaos_check.ts";
import { emptyResults, runClient } from "./chaos_clients.ts";
import type { ClientResults, Violation } from "./chaos_clients.ts";
import { faultGapDefault, runFaults } from "./chaos_faults.ts";
import type { FaultGap, FaultRecord } from "./chaos_faults.ts";
import { ChaosSystem, frontendRoles } from "./chaos_system.ts";
import { parseLogLine } from "../../lib/log.ts";
import { sleep } from "../../lib/sleep.ts";

/** Trading clients, split evenly over the two frontends. */
export const clientCount = 8;
/** Retries of an order started before the end of the load phase may go on this long after it. */
export const retryGraceMs = 5_000;
/** Before the load starts, both frontends must report a ready leader within this. */
export const systemReadyWaitMs = 30_000;
/** One /health request while waiting for the system to be ready. */
const readyCheckTimeoutMs = 2_000;
/** Service log lines of a failed run kept in its result (warnings and errors, the newest). */
const logExcerptLinesMax = 60;

export type RunOptions = {
  readonly run: number;
  readonly seed: number;
  readonly seconds: number;
  /** Time between faults; faultGapDefault (0.5–3 s) unless given. */
  readonly faultGap?: FaultGap;
};

export type RunResult = {
  readonly run: number;
  readonly seed: number;
  readonly seconds: number;
  durationMs: number;
  /** When each phase ended, since the run started: system up, load (and faults) over, healed and stopped, checked. */
  phasesMs: { started?: number; loaded?: number; stopped?: number; checked?: number };
  acked: number;
  unknown: number;
  refused: number;
  retries: number;
  rywChecks: number;
  rywSkipped: number;
  faults: FaultRecord[];
  logLength: number;
  finalOrderMs: number | undefined;
  convergeMs: number | undefined;
  violations: Violation[];
  /** The harness itself failed (the system did not start, …): the run proves nothing. */
  error: string | undefined;
  /** Kept when the run failed: its DATA_DIR, with every service's output in services.log. */
  dataDir: string | undefined;
  /** Warning and error lines of the services, when the run failed. */
  logExcerpt: string[];
};

async function waitReady(system: ChaosSystem): Promise<void> {
  const deadline = Date.now() + systemReadyWaitMs;
  for (const role of frontendRoles) {
    const client = new StockBazaarClient({ baseUrl: system.url(role), deadlineMs: readyCheckTimeoutMs, connectionsMax: 1 });
    try {
      for (;;) {
        const ok = await client.health().then((reply) => reply.ok, () => false);
        if (ok) break;
        if (Date.now() > deadline) throw new Error(`${role} did not report a ready leader within ${systemReadyWaitMs} ms`);
        await sleep(50);
      }
    } finally {
      client.close();
    }
  }
}

export async function runChaos(options: RunOptions): Promise<RunResult> {
  const startedMs = Date.now();
  const result: RunResult = {
    run: options.run,
    seed: options.seed,
    seconds: options.seconds,
    durationMs: 0,
    phasesMs: {},
    acked: 0,
    unknown: 0,
    refused: 0,
    retries: 0,
    rywChecks: 0,
    rywSkipped: 0,
    faults: [],
    logLength: 0,
    finalOrderMs: undefined,
    convergeMs: undefined,
    violations: [],
    error: undefined,
    dataDir: undefined,
    logExcerpt: [],
  };
  const clients: ClientResults[] = Array.from({ length: clientCount }, emptyResults);
  let system: ChaosSystem | undefined;
  try {
    system = await ChaosSystem.start();
    await waitReady(system);
    result.phasesMs.started = Date.now() - startedMs;
    const loadStartMs = Date.now();
    const loadEndMs = loadStartMs + options.seconds * 1000;
    const running = clients.map((out, index) => {
      const via = frontendRoles[index % frontendRoles.length] as (typeof frontendRoles)[number];
      return runClient({
        index,
        seed: (options.seed * 7919 + index + 1) >>> 0,
        url: (system as ChaosSystem).url(via),
        via,
        trading: () => Date.now() < loadEndMs,
        retrying: () => Date.now() < loadEndMs + retryGraceMs,
      }, out);
    });
    const faults = runFaults(
      system,
      seededRandom(options.seed),
      options.faultGap ?? faultGapDefault,
      loadStartMs,
      loadEndMs,
      result.faults,
      result.violations,
    );
    await Promise.all([...running, faults]);
    result.phasesMs.loaded = Date.now() - startedMs;
    const acked = clients.flatMap((c) => c.acked);
    const refused = clients.flatMap((c) => c.refused);
    const stats = await finish(system, options.seed, acked, result.violations);
    result.finalOrderMs = stats.finalOrderMs;
    result.convergeMs = stats.convergeMs;
    result.phasesMs.stopped = Date.now() - startedMs;
    const log = checkLogs(system, acked, refused, result.violations);
    result.logLength = log.length;
    await checkCatalog(system, log, result.violations);
    result.phasesMs.checked = Date.now() - startedMs;
  } catch (err) {
    result.error = err instanceof Error ? (err.stack ?? err.message) : String(err);
  } finally {
    for (const c of clients) {
      result.acked += c.acked.length;
      result.unknown += c.unknown.length;
      result.refused += c.refused.length;
      result.retries += c.retries;
      result.rywChecks += c.rywChecks;
      result.rywSkipped += c.rywSkipped;
      result.violations.push(...c.violations);
    }
    const failed = result.violations.length > 0 || result.error !== undefined;
    if (system) {
      await system.dispose(failed);
      if (failed) keepLogs(system, result);
    }
    result.durationMs = Date.now() - startedMs;
  }
  return result;
}

function keepLogs(system: ChaosSystem, result: RunResult): void {
  const logs = system.logs();
  result.dataDir = system.dataDir;
  fs.writeFileSync(path.join(system.dataDir, "services.log"), logs);
  let service = "";
  const relevant: string[] = [];
  for (const line of logs.split("\n")) {
    if (line.startsWith("---- ")) service = line.slice(5);
    else if (["warn", "error"].includes(String(parseLogLine(line)?.["level"]))) relevant.push(`[${service}] ${line}`);
  }
  result.logExcerpt = relevant.slice(-logExcerptLinesMax);
}
