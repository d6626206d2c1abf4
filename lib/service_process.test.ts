// freePort: the ports tests and benchmarks start services on.

import * as net from "node:net";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { freePort, freePortFirst, freePortLast } from "./service_process.ts";

test("freePort hands out distinct ports below the ephemeral range, each one bindable", async () => {
  const ports: number[] = [];
  for (let i = 0; i < 50; i++) ports.push(await freePort());
  assert.is(new Set(ports).size, ports.length, "a port was handed out twice");
  for (const port of ports) assert.ok(port >= freePortFirst && port <= freePortLast && port < 32_768, `port ${port}`);
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => server.once("error", reject).listen(ports[0], "127.0.0.1", resolve));
  server.close();
});

test("a port someone listens on is not handed out", async () => {
  const servers: net.Server[] = [];
  try {
    // Occupy a block of the range, then check none of it comes back.
    const taken = new Set<number>();
    for (let port = freePortFirst; port < freePortFirst + 200; port++) {
      const server = net.createServer();
      const ok = await new Promise<boolean>((resolve) => server.once("error", () => resolve(false)).listen(port, "127.0.0.1", () => resolve(true)));
      if (ok) {
        servers.push(server);
        taken.add(port);
      }
    }
    for (let i = 0; i < 200; i++) assert.not.ok(taken.has(await freePort()));
  } finally {
    for (const s of servers) s.close();
  }
});

test.run();
