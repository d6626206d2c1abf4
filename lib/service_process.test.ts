// freePort: the ports tests and benchmarks start services on.

import * as net from "node:net";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { freePort, freePortFirst, freePortLast } from "./service_process.ts";

/** Listen on `port` (127.0.0.1); undefined when that fails (someone else has it). */
function occupy(port: number): Promise<net.Server | undefined> {
  const server = net.createServer();
  return new Promise((resolve) => server.once("error", () => resolve(undefined)).listen(port, "127.0.0.1", () => resolve(server)));
}

// First, while this process has handed out no port yet (a handed-out port is never handed out again).
test("a port someone listens on is not handed out; a range with none free is an error", async () => {
  const blockSize = 8;
  const servers: net.Server[] = [];
  try {
    // A block of the range where this test holds every port but the last.
    let first = 0;
    for (let tries = 0; tries < 20 && servers.length < blockSize - 1; tries++) {
      for (const s of servers.splice(0)) s.close();
      first = freePortFirst + Math.floor(Math.random() * (freePortLast - freePortFirst - blockSize));
      for (let port = first; port < first + blockSize - 1; port++) {
        const server = await occupy(port);
        if (!server) break;
        servers.push(server);
      }
    }
    assert.is(servers.length, blockSize - 1, "found no block of ports to hold");
    const last = first + blockSize - 1;
    assert.is(await freePort(first, last), last, "the only port nobody listens on");
    const held = await occupy(last);
    if (held) servers.push(held);
    const err = await freePort(first, last).then(() => undefined, (e: unknown) => e);
    assert.match(String(err), /no free port/);
  } finally {
    for (const s of servers) s.close();
  }
});

test("freePort hands out distinct ports below the ephemeral range, each one bindable", async () => {
  const ports: number[] = [];
  for (let i = 0; i < 50; i++) ports.push(await freePort());
  assert.is(new Set(ports).size, ports.length, "a port was handed out twice");
  for (const port of ports) assert.ok(port >= freePortFirst && port <= freePortLast && port < 32_768, `port ${port}`);
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => server.once("error", reject).listen(ports[0], "127.0.0.1", resolve));
  server.close();
});

test.run();
