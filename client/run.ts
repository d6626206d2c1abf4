// CLI of the load-and-verify client (README "Quick start"); the sessions are client/client.ts,
// each on a StockBazaarClient. Exits 0 when every recorded order verifies, 1 on any mismatch or
// failed request, 2 on bad options; --help prints the usage below.

import { CommandLine } from "../lib/cli.ts";
import { defaultStockNames, runClient } from "./client.ts";
import type { ClientOptions, ClientResult, LatencySummary } from "./client.ts";

/** Bounds that keep a mistyped option from running for hours. */
const iterationsMax = 10_000_000;
const sessionsMax = 10_000;

const usage = `usage: npm run client -- [options]       (or: node --import tsx client/run.ts [options])

Load-and-verify client: each session looks up a random stock and, if its quantity is above 0,
trades it with probability p (with an Idempotency-Key); at the end it reads every acknowledged
order back and compares. Prints latencies and a verdict.

options:
  --host H          frontend host (default 127.0.0.1)
  --port N          frontend port (default 8080)
  --p P             trade probability per iteration, 0 to 1 (default 0.5)
  --iterations N    lookups per session (default 100)
  --sessions N      concurrent sessions, one keep-alive connection each (default 5)
  --seed N          seed of the random choices, to repeat a run (default: random, printed)
  --stocks A,B      stock names to use (default: the ${defaultStockNames.length} stocks of a fresh catalog)
  --json            print the result as one JSON object instead of text
  --help, -h        print this text and exit

exit status: 0 every recorded order verified, 1 a request failed or an order did not verify,
2 bad options.`;

const cli = new CommandLine("client", usage);

function parseOptions(argv: string[]): { opts: ClientOptions; json: boolean } {
  const parsed = cli.parse(argv, {
    host: "string",
    port: "string",
    p: "string",
    iterations: "string",
    sessions: "string",
    seed: "string",
    stocks: "string",
    json: "boolean",
  });
  const stocks = parsed.stocks ? parsed.stocks.split(",").filter((s) => s !== "") : [...defaultStockNames];
  if (stocks.length === 0) cli.fail("--stocks must name at least one stock");
  return {
    json: parsed.json ?? false,
    opts: {
      host: parsed.host ?? "127.0.0.1",
      port: cli.number("port", parsed.port, { fallback: 8080, min: 1, max: 65535 }),
      p: cli.number("p", parsed.p, { fallback: 0.5, min: 0, max: 1, integer: false }),
      iterations: cli.number("iterations", parsed.iterations, { fallback: 100, min: 0, max: iterationsMax }),
      sessions: cli.number("sessions", parsed.sessions, { fallback: 5, min: 1, max: sessionsMax }),
      seed: cli.number("seed", parsed.seed, { fallback: Math.floor(Math.random() * 2 ** 31), min: 0, max: 2 ** 31 }),
      stocks,
    },
  };
}

function line(name: string, s: LatencySummary): string {
  return `  ${name.padEnd(7)} n=${String(s.count).padEnd(6)} mean=${s.meanMs.toFixed(3)} ms  p50=${s.p50Ms.toFixed(3)} ms  p99=${
    s.p99Ms.toFixed(3)
  } ms`;
}

function report(r: ClientResult): string {
  const o = r.options;
  const out = [
    `client: ${o.sessions} sessions x ${o.iterations} iterations, p=${o.p}, seed=${o.seed}, http://${o.host}:${o.port}`,
    "latency:",
    line("lookup", r.latency.lookup),
    line("trade", r.latency.trade),
    line("query", r.latency.query),
    `orders: ${r.orders} placed, ${r.rejected} rejected (insufficient quantity), ${r.verified}/${r.orders} verified`,
  ];
  for (const e of r.errors.slice(0, 20)) out.push(`error: ${e}`);
  for (const m of r.mismatches.slice(0, 20)) out.push(`mismatch: ${m}`);
  const ok = r.errors.length === 0 && r.mismatches.length === 0;
  out.push(
    ok
      ? "result: OK, every recorded order verified"
      : `result: FAILED (${r.errors.length} errors, ${r.mismatches.length} mismatches; seed=${o.seed})`,
  );
  return out.join("\n");
}

const { opts, json } = parseOptions(process.argv.slice(2));
const result = await runClient(opts);
process.stdout.write(`${json ? JSON.stringify(result) : report(result)}\n`);
process.exitCode = result.errors.length === 0 && result.mismatches.length === 0 ? 0 : 1;
