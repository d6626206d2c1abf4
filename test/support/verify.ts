// The guarantees 1-3 of README "Guarantees", checked from outside after a fault run: every acknowledged
// order reads back with its content; numbers 0..n-1 with no gap or duplicate; every replica's
// file byte-identical; catalog quantity = initial − Σ buys + Σ sells over the log.

import * as fs from "node:fs";
import * as assert from "uvu/assert";
import { initialQuantity, initialStocks } from "../../catalog/initial_stocks.ts";
import type { LocalSystem } from "./local_system.ts";
import { withClient } from "./http.ts";
import { sleep } from "../../lib/sleep.ts";
import type { Acked } from "./load.ts";

export type LogRow = { number: number; epoch: number; name: string; type: string; quantity: number; requestId: string };

/** Parse an order-log file (`number,epoch,name,type,quantity,request_id`; the header is skipped). */
export function readOrderLog(file: string): LogRow[] {
  const text = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "";
  return text.split("\n").filter((l) => /^\d+,/.test(l)).map((line) => {
    const [number, epoch, name, type, quantity, requestId] = line.split(",");
    return {
      number: Number(number),
      epoch: Number(epoch),
      name: name as string,
      type: type as string,
      quantity: Number(quantity),
      requestId: requestId as string,
    };
  });
}

/** Wait until every replica file is byte-identical (recovery and catch-up run in the background). */
export async function waitFilesIdentical(cluster: LocalSystem, ids: readonly number[], timeoutMs = 30_000): Promise<Buffer> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const files = ids.map((id) => fs.existsSync(cluster.orderFile(id)) ? fs.readFileSync(cluster.orderFile(id)) : Buffer.alloc(0));
    const first = files[0] as Buffer;
    if (files.every((f) => f.equals(first))) return first;
    if (Date.now() > deadline) {
      assert.unreachable(`replica files differ after ${timeoutMs} ms: sizes ${files.map((f) => f.length).join(", ")}`);
    }
    await sleep(100);
  }
}

export async function verifyGuarantees(cluster: LocalSystem, acked: readonly Acked[], ids: readonly number[] = [1, 2, 3]): Promise<void> {
  await waitFilesIdentical(cluster, ids);
  const log = readOrderLog(cluster.orderFile(ids[0] as number));

  // 2. Numbers 0..n-1, no gap, no duplicate, no request id twice.
  log.forEach((row, i) => assert.is(row.number, i, `log row ${i} has number ${row.number}`));
  assert.is(new Set(log.map((r) => r.requestId)).size, log.length, "a request id appears twice in the log");

  // 1. Every acknowledged order is in the log with its content, and reads back through the API.
  const numbers = new Set<number>();
  for (const a of acked) {
    assert.not.ok(numbers.has(a.number), `transaction number ${a.number} acknowledged twice`);
    numbers.add(a.number);
    const row = log[a.number];
    assert.ok(row, `acknowledged order ${a.number} missing from the log (log has ${log.length})`);
    assert.equal([row.name, row.type, row.quantity], [a.name, a.type, a.quantity], `order ${a.number} content`);
  }
  await withClient(cluster.url, async (client) => {
    for (const a of acked.slice(-50)) {
      const reply = await client.order(a.number);
      assert.equal(reply.data, { number: a.number, name: a.name, type: a.type, quantity: a.quantity });
    }

    // 3. Exactly once: the catalog's quantities are what the log says.
    for (const stock of initialStocks) {
      const delta = log.filter((r) => r.name === stock.name).reduce((s, r) => s + (r.type === "buy" ? -r.quantity : r.quantity), 0);
      const reply = await client.lookup(stock.name);
      assert.is(reply.data.quantity, initialQuantity + delta, `${stock.name}: catalog quantity vs the order log`);
    }
  });
}
