// The end of a chaos run: heal everything, demand one more order (availability), wait until the
// replicas and the catalog agree on the last number, stop every service with SIGTERM, then judge
// from the files alone: the three order logs byte-identical, numbered 0..n−1 with unique request
// ids, every acknowledged order at its number, nothing refused in the log, and the catalog (a
// fresh catalog process reading its files) equal to initial − Σ buys + Σ sells over the log.

import * as fs from "node:fs";
import { initialQuantity, initialStocks } from "../../catalog/initial_stocks.ts";
import { StockBazaarClient } from "../../client/stock_bazaar_client.ts";
import type { CatalogHealthReply, Stock } from "../../gen/catalog.ts";
import { OrderSide } from "../../gen/order.ts";
import type { OrderRecord } from "../../gen/order.ts";
import { callUnary } from "../../lib/grpc.ts";
import { orderLogHeader, parseOrderRow } from "../../order/order_log.ts";
import type { AckedOrder, Order, PendingOrder, Violation } from "./chaos_clients.ts";
import { placeOrder, requestIdOf } from "./chaos_clients.ts";
import type { ChaosSystem } from "./chaos_system.ts";
import { replicaIds } from "./chaos_system.ts";
import { sleep } from "../../lib/sleep.ts";
import { catalogClient } from "./grpc_calls.ts";
import { testRequestTimeoutMs } from "./http.ts";

/** After healing, one order must be acknowledged within this (the README's availability claim). */
export const finalOrderWaitMs = 15_000;
/** After the final order, replicas and catalog must agree on the last number within this. */
export const convergeWaitMs = 30_000;
const convergePollMs = 100;
/** One Lookup of the final catalog check. */
const lookupTimeoutMs = 5_000;

export type FinalStats = { finalOrderMs: number | undefined; convergeMs: number | undefined };

/** Heal, final order, convergence, graceful stop. Acknowledges the final order into `acked`. */
export async function finish(system: ChaosSystem, seed: number, acked: AckedOrder[], violations: Violation[]): Promise<FinalStats> {
  const stats: FinalStats = { finalOrderMs: undefined, convergeMs: undefined };
  for (const f of await system.healAll()) violations.push({ kind: "restart-failed", detail: `final heal: ${f.role}: ${f.error}` });
  const client = new StockBazaarClient({ baseUrl: system.url("frontend-a"), deadlineMs: testRequestTimeoutMs, connectionsMax: 1 });
  const order: Order = { name: "GameStart", type: "sell", quantity: 1 };
  const key = `chaos-${seed}-final`;
  const startMs = Date.now();
  const outcome = await placeOrder(
    client,
    order,
    key,
    Number.MAX_SAFE_INTEGER,
    () => Date.now() - startMs < finalOrderWaitMs,
    violations,
  );
  client.close();
  // Retries stop at finalOrderWaitMs; an attempt started before may still finish after it.
  if (outcome.kind === "acked") {
    stats.finalOrderMs = Date.now() - startMs;
    acked.push({ ...order, key, requestId: requestIdOf(key, order), number: outcome.number, via: "frontend-a" });
  } else {
    violations.push({
      kind: "availability",
      detail: `after healing, the final order got ${JSON.stringify(outcome)} in ${Date.now() - startMs} ms`,
    });
  }
  const converged = await waitConverged(system);
  if (converged.ok) stats.convergeMs = converged.ms;
  else violations.push({ kind: "convergence", detail: `not converged in ${convergeWaitMs} ms: ${converged.last}` });
  for (const { role, code } of await system.stopGracefully()) {
    if (code !== 0) violations.push({ kind: "shutdown", detail: `${role} exited ${code} on SIGTERM` });
  }
  return stats;
}

async function waitConverged(system: ChaosSystem): Promise<{ ok: boolean; ms: number; last: string }> {
  const startMs = Date.now();
  let last = "";
  while (Date.now() - startMs < convergeWaitMs) {
    const [catalog, ...replicas] = await Promise.all([system.catalogHealth(), ...replicaIds.map((id) => system.replicaHealth(id))]);
    last = `catalog last_number ${catalog?.lastNumber ?? "down"}; ` +
      replicas.map((h, i) =>
        h
          ? `replica ${h.id} ${h.role} epoch ${h.epoch} last ${h.lastNumber} commit ${h.commitNumber} ready ${h.ready}`
          : `replica ${replicaIds[i]} down`
      ).join("; ");
    if (catalog && replicas.every((h) => h !== undefined && h.lastNumber === catalog.lastNumber)) {
      return { ok: true, ms: Date.now() - startMs, last };
    }
    await sleep(convergePollMs);
  }
  return { ok: false, ms: Date.now() - startMs, last };
}

const sideName = (o: OrderRecord): string => o.side === OrderSide.ORDER_SIDE_BUY ? "buy" : "sell";

/** Parse one order-log file; every problem is a violation. */
export function readLog(file: string, violations: Violation[]): OrderRecord[] {
  const text = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "";
  const lines = text.split("\n");
  if (lines.pop() !== "") violations.push({ kind: "log-torn", detail: `${file} does not end with a newline after a graceful stop` });
  if (lines[0] !== orderLogHeader) violations.push({ kind: "log-parse", detail: `${file}: header ${JSON.stringify(lines[0])}` });
  const rows: OrderRecord[] = [];
  const seen = new Map<string, number>();
  for (let i = 1; i < lines.length; i++) {
    const row = parseOrderRow(lines[i] as string);
    if (typeof row === "string") {
      violations.push({ kind: "log-parse", detail: `${file} line ${i + 1}: ${row}` });
      continue;
    }
    if (row.number !== rows.length) {
      violations.push({ kind: "log-numbers", detail: `${file} line ${i + 1}: number ${row.number} where ${rows.length} was expected` });
    }
    const earlier = seen.get(row.requestId);
    if (earlier !== undefined) {
      violations.push({ kind: "log-request-id", detail: `request id ${row.requestId} at ${earlier} and ${row.number}` });
    }
    seen.set(row.requestId, row.number);
    rows.push(row);
  }
  return rows;
}

/** The three files byte for byte, then the log against what clients were told. */
export function checkLogs(
  system: ChaosSystem,
  acked: readonly AckedOrder[],
  refused: readonly PendingOrder[],
  violations: Violation[],
): OrderRecord[] {
  const files = replicaIds.map((id) => system.cluster.orderFile(id));
  const bytes = files.map((f) => fs.existsSync(f) ? fs.readFileSync(f) : Buffer.alloc(0));
  for (let i = 1; i < bytes.length; i++) {
    const a = bytes[0] as Buffer;
    const b = bytes[i] as Buffer;
    if (a.equals(b)) continue;
    let at = 0;
    while (at < a.length && at < b.length && a[at] === b[at]) at++;
    violations.push({
      kind: "files-differ",
      detail: `orders-${replicaIds[0]}.csv (${a.length} B) and orders-${replicaIds[i]}.csv (${b.length} B) differ from byte ${at}`,
    });
  }
  const log = readLog(files[0] as string, violations);
  for (const f of files.slice(1)) readLog(f, violations);
  const byRequestId = new Map(log.map((r) => [r.requestId, r]));
  const keyOfNumber = new Map<number, string>();
  for (const a of acked) {
    const other = keyOfNumber.get(a.number);
    if (other !== undefined) {
      violations.push({ kind: "ack-number-twice", detail: `number ${a.number} acknowledged to keys ${other} and ${a.key}` });
    }
    keyOfNumber.set(a.number, a.key);
    const row = byRequestId.get(a.requestId);
    if (!row) {
      violations.push({
        kind: "ack-lost",
        detail:
          `acknowledged order ${a.number} (key ${a.key}, ${a.type} ${a.quantity} ${a.name}, via ${a.via}) is not in the log (${log.length} orders); at ${a.number}: ${
            JSON.stringify(log[a.number])
          }`,
      });
    } else if (row.number !== a.number || row.name !== a.name || sideName(row) !== a.type || row.quantity !== a.quantity) {
      violations.push({
        kind: "ack-content",
        detail: `key ${a.key} acknowledged as ${a.number} ${a.type} ${a.quantity} ${a.name}; log has ${row.number} ${
          sideName(row)
        } ${row.quantity} ${row.name}`,
      });
    }
  }
  for (const r of refused) {
    const row = byRequestId.get(r.requestId);
    if (row) violations.push({ kind: "refused-in-log", detail: `key ${r.key} got 409, yet the log has it as order ${row.number}` });
  }
  return log;
}

/** Start a fresh catalog on the stopped system's files; its stocks must be what the log says. */
export async function checkCatalog(system: ChaosSystem, log: readonly OrderRecord[], violations: Violation[]): Promise<void> {
  const catalog = await system.startExtra("catalog-check", "catalog/main.ts", { PORT: "0" });
  const client = catalogClient(catalog.port);
  try {
    const health = await callUnary<object, CatalogHealthReply>(client, client.health, {}, lookupTimeoutMs);
    if (health.lastNumber !== log.length - 1) {
      violations.push({
        kind: "catalog-last-number",
        detail: `catalog last_number ${health.lastNumber}, the log ends at ${log.length - 1}`,
      });
    }
    for (const { name } of initialStocks) {
      const stock = await callUnary<{ name: string }, Stock>(client, client.lookup, { name }, lookupTimeoutMs);
      const rows = log.filter((r) => r.name === name);
      const quantity = initialQuantity + rows.reduce((s, r) => s + (r.side === OrderSide.ORDER_SIDE_BUY ? -r.quantity : r.quantity), 0);
      const volume = rows.reduce((s, r) => s + r.quantity, 0);
      if (stock.quantity !== quantity) {
        violations.push({ kind: "catalog-quantity", detail: `${name}: catalog quantity ${stock.quantity}, the log says ${quantity}` });
      }
      if (stock.volume !== volume) {
        violations.push({ kind: "catalog-volume", detail: `${name}: catalog volume ${stock.volume}, the log says ${volume}` });
      }
    }
  } finally {
    client.close();
    const code = await catalog.stop();
    if (code !== 0) violations.push({ kind: "shutdown", detail: `the check's catalog exited ${code} on SIGTERM` });
  }
}
