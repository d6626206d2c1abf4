// CLI of the load-and-verify client (SPEC section 7):
//   node --import tsx client/run.ts --host 127.0.0.1 --port 8080 --p 0.5 --iterations 200 --sessions 5 --seed 42 [--json]
// Exits 1 on any mismatch or failed request, 2 on bad options.

import { parseArgs } from "node:util";
import { defaultStockNames, runClient } from "./client.ts";
import type { ClientOptions, ClientResult, LatencySummary } from "./client.ts";

/** Bounds that keep a mistyped option from running for hours. */
const iterationsMax = 10_000_000;
const sessionsMax = 10_000;

function fail(message: string): never {
  process.stderr.write(`client: ${message}\n`);
  process.exit(2);
}

function num(value: string | undefined, name: string, fallback: number, min: number, max: number, integer: boolean): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) {
    fail(`--${name} must be ${integer ? "an integer" : "a number"} from ${min} to ${max} (got "${value}")`);
  }
  return n;
}

function parseOptions(argv: string[]): { opts: ClientOptions; json: boolean } {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        host: { type: "string" }, port: { type: "string" }, p: { type: "string" }, iterations: { type: "string" },
        sessions: { type: "string" }, seed: { type: "string" }, stocks: { type: "string" }, json: { type: "boolean" },
      },
    }).values;
  } catch (err) {
    fail(err instanceof Error ? err.message : String(err));
  }
  const stocks = parsed.stocks ? parsed.stocks.split(",").filter((s) => s !== "") : [...defaultStockNames];
  if (stocks.length === 0) fail("--stocks must name at least one stock");
  return {
    json: parsed.json ?? false,
    opts: {
      host: parsed.host ?? "127.0.0.1",
      port: num(parsed.port, "port", 8080, 1, 65535, true),
      p: num(parsed.p, "p", 0.5, 0, 1, false),
      iterations: num(parsed.iterations, "iterations", 100, 0, iterationsMax, true),
      sessions: num(parsed.sessions, "sessions", 5, 1, sessionsMax, true),
      seed: num(parsed.seed, "seed", Math.floor(Math.random() * 2 ** 31), 0, 2 ** 31, true),
      stocks,
    },
  };
}

function line(name: string, s: LatencySummary): string {
  return `  ${name.padEnd(7)} n=${String(s.count).padEnd(6)} mean=${s.meanMs.toFixed(3)} ms  p50=${s.p50Ms.toFixed(3)} ms  p99=${s.p99Ms.toFixed(3)} ms`;
}

function report(r: ClientResult): string {
  const o = r.options;
  const out = [
    `client: ${o.sessions} sessions x ${o.iterations} iterations, p=${o.p}, seed=${o.seed}, http://${o.host}:${o.port}`,
    "latency:", line("lookup", r.latency.lookup), line("trade", r.latency.trade), line("query", r.latency.query),
    `orders: ${r.orders} placed, ${r.rejected} rejected (insufficient quantity), ${r.verified}/${r.orders} verified`,
  ];
  for (const e of r.errors.slice(0, 20)) out.push(`error: ${e}`);
  for (const m of r.mismatches.slice(0, 20)) out.push(`mismatch: ${m}`);
  const ok = r.errors.length === 0 && r.mismatches.length === 0;
  out.push(ok ? "result: OK, every recorded order verified" : `result: FAILED (${r.errors.length} errors, ${r.mismatches.length} mismatches; seed=${o.seed})`);
  return out.join("\n");
}

const { opts, json } = parseOptions(process.argv.slice(2));
const result = await runClient(opts);
process.stdout.write(`${json ? JSON.stringify(result) : report(result)}\n`);
process.exitCode = result.errors.length === 0 && result.mismatches.length === 0 ? 0 : 1;
