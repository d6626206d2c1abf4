// Throughput of the hand-written HTTP/1.1 server (frontend/http) against a bare node:http server
// answering the same JSON bytes, side by side under autocannon. Each server runs in its own
// child process so the load generator does not share its event loop. Measures; never fails.
//
//   node --import tsx bench/http_vs_node.ts [--connections 50] [--duration 5] [--pipelining 1] [--rounds 3]

import type { ChildProcess } from "node:child_process";
import * as http from "node:http";
import * as net from "node:net";
import { createRequire } from "node:module";
import * as os from "node:os";
import { fileURLToPath } from "node:url";
import { CommandLine } from "../lib/cli.ts";
import { Logger } from "../lib/log.ts";
import { createHttpServer } from "../frontend/http/server.ts";
import { runTracked } from "../test/support/processes.ts";

const body = JSON.stringify({ data: { name: "GameStart", price: 15.99, quantity: 100, volume: 0 } });
const contentType = "application/json; charset=utf-8";
const route = "/stocks/GameStart";
const warmupSeconds = 1;
type Side = "ours" | "node";

/** The part of autocannon's API used here (the package ships no types). */
type LoadResult = {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number };
  errors: number;
  non2xx: number;
};
type LoadOptions = { url: string; connections: number; pipelining: number; duration: number };
const autocannon = createRequire(import.meta.url)("autocannon") as (options: LoadOptions) => Promise<LoadResult>;

async function serve(side: Side): Promise<void> {
  let port: number;
  if (side === "ours") {
    const server = createHttpServer({
      log: new Logger("bench", {}, "warn"),
      handler: () => ({ status: 200, headers: { "content-type": contentType }, body }),
    });
    port = await server.listen(0, "127.0.0.1");
  } else {
    const server = http.createServer((_req, res) => {
      res.writeHead(200, { "content-type": contentType, "content-length": Buffer.byteLength(body) });
      res.end(body);
    });
    port = await new Promise<number>((resolve) => {
      server.listen(0, "127.0.0.1", () => resolve((server.address() as { port: number }).port));
    });
  }
  process.stdout.write(`PORT ${port}\n`);
  // The parent asks for CPU time before and after a run: CPU per request is the figure that
  // noise from other processes on the machine disturbs least.
  process.on("message", () => {
    const usage = process.cpuUsage();
    process.send?.({ cpuMicros: usage.user + usage.system });
  });
}

function cpuMicros(child: ChildProcess): Promise<number> {
  return new Promise((resolve) => {
    child.once("message", (message: { cpuMicros: number }) => resolve(message.cpuMicros));
    child.send("cpu");
  });
}

/** One server in its own process (test/support/processes.ts tracks it); resolves once it prints its port. */
function startChild(side: Side): Promise<{ child: ChildProcess; port: number }> {
  return new Promise((resolve, reject) => {
    const onOutput = (output: string): void => {
      const match = /PORT (\d+)/.exec(output);
      if (match) resolve({ child: server.child, port: Number(match[1]) });
    };
    const server = runTracked(process.execPath, ["--import", "tsx", fileURLToPath(import.meta.url), "serve", side], process.env, {
      onOutput,
      ipc: true,
    });
    server.child.on("exit", (code) => reject(new Error(`${side} server exited with ${code}:\n${server.output()}`)));
  });
}

type Options = { connections: number; duration: number; pipelining: number; rounds: number };

async function load(port: number, options: Options, duration: number): Promise<LoadResult> {
  return autocannon({
    url: `http://127.0.0.1:${port}${route}`,
    connections: options.connections,
    pipelining: options.pipelining,
    duration,
  });
}

/** One raw keep-alive response, to show what each side puts on the wire. */
function rawResponse(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1", () => socket.write(`GET ${route} HTTP/1.1\r\nHost: bench\r\n\r\n`));
    socket.once("data", (chunk: Buffer) => {
      socket.destroy();
      const text = chunk.toString("latin1");
      resolve(`${chunk.length} bytes: ${JSON.stringify(text.slice(0, text.indexOf("\r\n\r\n")))}`);
    });
    socket.once("error", reject);
  });
}

type Measurement = { result: LoadResult; cpuMicrosPerRequest: number };

async function measure(side: Side, options: Options): Promise<Measurement> {
  const { child, port } = await startChild(side);
  try {
    await load(port, options, warmupSeconds);
    const before = await cpuMicros(child);
    const result = await load(port, options, options.duration);
    const used = (await cpuMicros(child)) - before;
    return { result, cpuMicrosPerRequest: used / Math.max(1, result.requests.total) };
  } finally {
    child.removeAllListeners("exit");
    child.kill("SIGTERM");
  }
}

const cli = new CommandLine(
  "http_vs_node",
  "usage: node --import tsx bench/http_vs_node.ts [--connections 50] [--duration 5] [--pipelining 1] [--rounds 3]",
);

function parseOptions(argv: string[]): Options {
  const values = cli.parse(argv, { connections: "string", duration: "string", pipelining: "string", rounds: "string" });
  const positive = (name: keyof Options, fallback: number): number =>
    cli.number(name, values[name], { fallback, min: 1, max: Number.MAX_SAFE_INTEGER });
  return {
    connections: positive("connections", 50),
    duration: positive("duration", 5),
    pipelining: positive("pipelining", 1),
    rounds: positive("rounds", 3),
  };
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const cpuModel = os.cpus()[0]?.model ?? "unknown cpu";
  console.log(`node ${process.version}, ${os.platform()} ${os.arch()}, ${os.availableParallelism()} x ${cpuModel}`);
  console.log(
    `autocannon: ${options.connections} connections, pipelining ${options.pipelining}, ${options.duration} s per run, ${options.rounds} rounds`,
  );
  for (const side of ["ours", "node"] as const) {
    const { child, port } = await startChild(side);
    console.log(`${side} wire: ${await rawResponse(port)}`);
    child.removeAllListeners("exit");
    child.kill("SIGTERM");
  }
  const runs: Record<Side, Measurement[]> = { ours: [], node: [] };
  for (let round = 1; round <= options.rounds; round++) {
    for (const side of ["ours", "node"] as const) {
      const m = await measure(side, options);
      runs[side].push(m);
      const r = m.result;
      console.log(
        `round ${round} ${side.padEnd(4)}: ${r.requests.average.toFixed(0)} req/s, server CPU ${
          m.cpuMicrosPerRequest.toFixed(1)
        } us/req, ` +
          `latency p50 ${r.latency.p50} ms p99 ${r.latency.p99} ms, errors ${r.errors}, non-2xx ${r.non2xx}`,
      );
    }
  }
  const rps = (side: Side): number => median(runs[side].map((m) => m.result.requests.average));
  const cpu = (side: Side): number => median(runs[side].map((m) => m.cpuMicrosPerRequest));
  console.log(
    `median: ours ${rps("ours").toFixed(0)} req/s, node:http ${rps("node").toFixed(0)} req/s, ratio ours/node ${
      (rps("ours") / rps("node")).toFixed(2)
    }`,
  );
  console.log(
    `median server CPU: ours ${cpu("ours").toFixed(1)} us/req, node:http ${cpu("node").toFixed(1)} us/req, ` +
      `ratio node/ours ${(cpu("node") / cpu("ours")).toFixed(2)} (above 1: ours does less work per request)`,
  );
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

if (process.argv[2] === "serve") {
  await serve(process.argv[3] as Side);
} else {
  await main();
}
