// The order log of one replica: DATA_DIR/orders-<id>.csv, the header line
// `number,name,type,quantity,request_id` then one row per order, numbers consecutive from 0.
// Every replica writes the same bytes for the same orders, so logs that agree are
// byte-identical files. It survives a crash by append + fdatasync (lib/durable_file.ts): a
// crash can only tear the last line, which loading drops and truncates. Rows are validated
// before writing and after reading; a malformed complete row refuses to load, naming its line.
// The whole log is held in memory. This module decides nothing: replica.ts and leader.ts do.

import { Buffer } from "node:buffer";
import * as path from "node:path";
import { assert } from "../lib/assert.ts";
import { AppendFile, readLines, writeFileAtomic } from "../lib/durable_file.ts";
import { OrderSide } from "../gen/order.ts";
import type { OrderRecord } from "../gen/order.ts";
import { nameBytesMax, quantityMax, requestIdBytesMax } from "./limits.ts";

export const orderLogHeader = "number,name,type,quantity,request_id";

export function orderLogFile(dataDir: string, id: number): string {
  return path.join(dataDir, `orders-${id}.csv`);
}

// A field is written unquoted, so it may not hold the separator, a quote or a line break.
const namePattern = /^[^\x00-\x1f\x7f,"]+$/;
const requestIdPattern = /^[\x21\x23-\x2b\x2d-\x7e]+$/;
const numberPattern = /^(0|[1-9][0-9]*)$/;
const quantityPattern = /^[1-9][0-9]*$/;

/** Why a stock name cannot be stored, or undefined when it can. */
export function nameProblem(name: string): string | undefined {
  if (name.length === 0) return "name is empty";
  if (Buffer.byteLength(name, "utf8") > nameBytesMax) return `name is longer than ${nameBytesMax} bytes`;
  if (!namePattern.test(name)) return "name contains a comma, a quote or a control character";
  return undefined;
}

/** Why a request id cannot be stored, or undefined when it can. */
export function requestIdProblem(requestId: string): string | undefined {
  if (requestId.length === 0) return "request_id is empty";
  if (requestId.length > requestIdBytesMax) return `request_id is longer than ${requestIdBytesMax} bytes`;
  if (!requestIdPattern.test(requestId)) return "request_id must be visible ASCII without comma or quote";
  return undefined;
}

/** Why an order is not well-formed, or undefined when it is. Used on every path into the log. */
export function orderProblem(o: OrderRecord): string | undefined {
  if (!Number.isSafeInteger(o.number) || o.number < 0) return "number is not a non-negative integer";
  if (o.side !== OrderSide.ORDER_SIDE_BUY && o.side !== OrderSide.ORDER_SIDE_SELL) return "side is not buy or sell";
  if (!Number.isSafeInteger(o.quantity) || o.quantity < 1 || o.quantity > quantityMax) {
    return `quantity is not an integer from 1 to ${quantityMax}`;
  }
  return nameProblem(o.name) ?? requestIdProblem(o.requestId);
}

export function sameOrder(a: OrderRecord, b: OrderRecord): boolean {
  return a.number === b.number && a.name === b.name && a.side === b.side &&
    a.quantity === b.quantity && a.requestId === b.requestId;
}

export function formatOrderRow(o: OrderRecord): string {
  const type = o.side === OrderSide.ORDER_SIDE_BUY ? "buy" : "sell";
  return `${o.number},${o.name},${type},${o.quantity},${o.requestId}`;
}

/** One row back into an order, or the reason it is not a valid row. */
export function parseOrderRow(line: string): OrderRecord | string {
  const fields = line.split(",");
  if (fields.length !== 5) return `expected 5 fields, found ${fields.length}`;
  const [numberText, name, type, quantityText, requestId] = fields as [string, string, string, string, string];
  if (!numberPattern.test(numberText)) return "number is not a non-negative integer";
  if (type !== "buy" && type !== "sell") return 'type is not "buy" or "sell"';
  if (!quantityPattern.test(quantityText)) return "quantity is not a positive integer";
  const order: OrderRecord = {
    number: Number(numberText), name, quantity: Number(quantityText), requestId,
    side: type === "buy" ? OrderSide.ORDER_SIDE_BUY : OrderSide.ORDER_SIDE_SELL,
  };
  const problem = orderProblem(order);
  if (problem) return problem;
  // The patterns admit only the canonical spelling, so the row round-trips byte for byte.
  assert(formatOrderRow(order) === line, "a parsed order row formats back to the same bytes");
  return order;
}

export class OrderLog {
  readonly file: string;
  /** Bytes of a torn last line dropped when loading (0 when the file ended cleanly). */
  readonly droppedTailBytes: number;
  private readonly records: OrderRecord[];
  private readonly numbers: Map<string, number>;
  private appendFile: AppendFile;
  /** One mutation at a time: numbers are computed from the last one. Callers serialize. */
  private mutating = false;

  private constructor(file: string, records: OrderRecord[], numbers: Map<string, number>, appendFile: AppendFile, droppedTailBytes: number) {
    this.file = file;
    this.records = records;
    this.numbers = numbers;
    this.appendFile = appendFile;
    this.droppedTailBytes = droppedTailBytes;
  }

  /** Load (or create) the log. Throws SyntaxError naming the line of a malformed row. */
  static async open(file: string): Promise<OrderLog> {
    const { lines, tornTail, completeBytes } = await readLines(file);
    const records: OrderRecord[] = [];
    const numbers = new Map<string, number>();
    if (lines.length === 0) {
      // New file, or a crash tore the header itself: start over with a durable header.
      const appendFile = await AppendFile.open(file, 0);
      await appendFile.append(`${orderLogHeader}\n`);
      return new OrderLog(file, records, numbers, appendFile, Buffer.byteLength(tornTail));
    }
    if (lines[0] !== orderLogHeader) throw loadError(file, 1, `expected the header "${orderLogHeader}"`);
    for (let i = 1; i < lines.length; i++) {
      const parsed = parseOrderRow(lines[i] as string);
      if (typeof parsed === "string") throw loadError(file, i + 1, parsed);
      if (parsed.number !== records.length) throw loadError(file, i + 1, `number ${parsed.number} where ${records.length} was expected`);
      const earlier = numbers.get(parsed.requestId);
      if (earlier !== undefined) throw loadError(file, i + 1, `request_id already used by order ${earlier}`);
      records.push(parsed);
      numbers.set(parsed.requestId, parsed.number);
    }
    const appendFile = await AppendFile.open(file, completeBytes);
    return new OrderLog(file, records, numbers, appendFile, Buffer.byteLength(tornTail));
  }

  /** The last order's number, -1 when the log is empty. */
  get lastNumber(): number {
    return this.records.length - 1;
  }

  /** fdatasync calls so far (group commit shows as fewer flushes than appends). */
  get flushes(): number {
    return this.appendFile.flushes;
  }

  at(number: number): OrderRecord | undefined {
    return this.records[number];
  }

  numberOf(requestId: string): number | undefined {
    return this.numbers.get(requestId);
  }

  /** Orders numbered from `from` up to but excluding `to` (clamped to the log). */
  slice(from: number, to: number): OrderRecord[] {
    return this.records.slice(Math.max(0, from), Math.max(0, to));
  }

  /** Durably append orders numbered from lastNumber + 1; they are visible once on disk. */
  async append(orders: readonly OrderRecord[]): Promise<void> {
    assert(orders.length > 0, "append takes at least one order");
    this.checkNew(orders);
    assert(!this.mutating, "one order log mutation at a time");
    this.mutating = true;
    try {
      await this.appendFile.append(orders.map((o) => `${formatOrderRow(o)}\n`).join(""));
    } finally {
      this.mutating = false;
    }
    for (const o of orders) {
      this.records.push(o);
      this.numbers.set(o.requestId, o.number);
    }
  }

  /**
   * Drop every order numbered `from` or later: rewrite the kept prefix to a temp file, fsync,
   * rename (a crash leaves the old file or the new one), then append from there again.
   */
  async truncateFrom(from: number): Promise<void> {
    assert(Number.isSafeInteger(from) && from >= 0 && from <= this.lastNumber, "truncate inside the log");
    assert(!this.mutating, "one order log mutation at a time");
    this.mutating = true;
    try {
      await this.appendFile.close();
      const kept = this.records.slice(0, from);
      await writeFileAtomic(this.file, `${orderLogHeader}\n${kept.map((o) => `${formatOrderRow(o)}\n`).join("")}`);
      this.appendFile = await AppendFile.open(this.file);
    } finally {
      this.mutating = false;
    }
    for (const o of this.records.splice(from)) this.numbers.delete(o.requestId);
  }

  close(): Promise<void> {
    return this.appendFile.close();
  }

  // Orders handed to append were checked by their producer; re-check here, before the disk,
  // because a bad row written is a replica that refuses to start.
  private checkNew(orders: readonly OrderRecord[]): void {
    const seen = new Set<string>();
    for (const [i, o] of orders.entries()) {
      assert(o.number === this.records.length + i, `order ${o.number} is next in the log`);
      const problem = orderProblem(o);
      assert(problem === undefined, `order ${o.number} is well-formed: ${problem}`);
      assert(!this.numbers.has(o.requestId) && !seen.has(o.requestId), `request_id of order ${o.number} is new`);
      seen.add(o.requestId);
    }
  }
}

function loadError(file: string, line: number, reason: string): SyntaxError {
  return new SyntaxError(`Cannot load order log ${file}: line ${line}: ${reason}`);
}
