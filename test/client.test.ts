// The load-and-verify client (client/run.ts) against the real system, and its verdicts: exit 0 when
// every recorded order reads back, 1 on a mismatch (shown with a server that lies), 2 on bad
// options; --help explains every option.

import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { runToExit } from "./support/processes.ts";
import { LocalSystem } from "./support/local_system.ts";

/** The client runs must end well within this. */
const clientTimeoutMs = 60_000;

async function runClient(args: string[]): Promise<{ code: number | null; out: string }> {
  const exit = await runToExit("client/run.ts", {}, { timeoutMs: clientTimeoutMs, args });
  return { code: exit.code, out: exit.output };
}

test("against the real system every recorded order verifies", async () => {
  const cluster = await LocalSystem.start();
  try {
    const { code, out } = await runClient([
      "--port",
      String(cluster.frontendPort),
      "--p",
      "0.8",
      "--iterations",
      "40",
      "--sessions",
      "5",
      "--seed",
      "11",
    ]);
    assert.is(code, 0, out);
    assert.match(out, /result: OK, every recorded order verified/);
    assert.match(out, /lookup\s+n=200/);
    const placed = Number(/orders: (\d+) placed/.exec(out)?.[1]);
    assert.ok(placed > 0, out);
    assert.match(out, new RegExp(`${placed}/${placed} verified`));
    assert.match(out, /trade\s+n=\d+\s+mean=[\d.]+ ms\s+p50=[\d.]+ ms\s+p99=[\d.]+ ms/);
  } finally {
    await cluster.stop();
  }
});

test("a server that answers an order query wrongly makes the client exit 1", async () => {
  let next = 0;
  const server = http.createServer((req, res) => {
    res.setHeader("content-type", "application/json");
    if (req.method === "GET" && req.url?.startsWith("/stocks/")) {
      res.end(JSON.stringify({ data: { name: decodeURIComponent(req.url.slice(8)), price: 1, quantity: 100, volume: 0 } }));
    } else if (req.method === "POST") {
      req.resume();
      req.on("end", () => res.end(JSON.stringify({ data: { transaction_number: next++ } })));
    } else {
      res.end(JSON.stringify({ data: { number: Number(req.url?.slice(8)), name: "WrongCo", type: "buy", quantity: 1 } }));
    }
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  try {
    const port = (server.address() as AddressInfo).port;
    const { code, out } = await runClient(["--port", String(port), "--p", "1", "--iterations", "5", "--sessions", "2", "--seed", "3"]);
    assert.is(code, 1, out);
    assert.match(out, /mismatch: order \d+/);
    assert.match(out, /result: FAILED/);
  } finally {
    server.close();
  }
});

test("bad options exit 2 with a message naming the option", async () => {
  for (
    const [args, option] of [[["--p", "1.5"], "--p"], [["--sessions", "0"], "--sessions"], [["--port", "x"], "--port"], [
      ["--bogus"],
      "bogus",
    ]] as const
  ) {
    const { code, out } = await runClient([...args]);
    assert.is(code, 2, out);
    assert.ok(out.includes(option), out);
  }
});

test("--help prints the usage with every option and exits 0", async () => {
  const { code, out } = await runClient(["--help"]);
  assert.is(code, 0, out);
  for (const option of ["--host", "--port", "--p", "--iterations", "--sessions", "--seed", "--stocks", "--json", "--help"]) {
    assert.match(out, new RegExp(`^  ${option}[ ,]`, "m"), `${option} is explained`);
  }
});

test.run();
