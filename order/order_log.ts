// The order log of one replica: DATA_DIR/orders-<id>.csv, the header line
// `number,epoch,name,type,quantity,request_id` then one row per order, numbers consecutive
// from 0, epochs never decreasing. Every replica writes the same bytes for the same orders, so
// logs that agree are byte-identical files. It survives a crash by append + fdatasync
// (lib/durable_file.ts): a crash can only tear the last line, which loading drops and cuts
// off. It is only ever appended to: the protocol never needs to truncate (protos/PROTOCOL.md).
// Rows are validated before writing and after reading; a malformed complete row refuses to
// load, naming its line. The whole log is held in memory by the protocol core (core.ts); this
// module decides nothing.

import { Buffer } from "node:buffer";
import * as path from "node:path";
import { assert } from "../lib/assert.ts";
import { AppendFile, readLines } from "../lib/durable_file.ts";
import { OrderSide } from "../gen/order.ts";
import type { OrderRecord } from "../gen/order.ts";
import { orderProblem } from "./order_rules.ts";

export const orderLogHeader = "number,epoch,name,type,quantity,request_id";
/** The header of logs written before orders carried epochs: refused with a clear message. */
const oldOrderLogHeader = "number,name,type,quantity,request_id";

export function orderLogFile(dataDir: string, id: number): string {
  return path.join(dataDir, `orders-${id}.csv`);
}

const numberPattern = /^(0|[1-9][0-9]*)$/;
const epochPattern = /^[1-9][0-9]*$/;
const quantityPattern = /^[1-9][0-9]*$/;

export function formatOrderRow(o: OrderRecord): string {
  const type = o.side === OrderSide.ORDER_SIDE_BUY ? "buy" : "sell";
  return `${o.number},${o.epoch},${o.name},${type},${o.quantity},${o.requestId}`;
}

/** One row back into an order, or the reason it is not a valid row. */
export function parseOrderRow(line: string): OrderRecord | string {
  const fields = line.split(",");
  if (fields.length !== 6) return `expected 6 fields, found ${fields.length}`;
  const [numberText, epochText, name, type, quantityText, requestId] = fields as [string, string, string, string, string, string];
  if (!numberPattern.test(numberText)) return "number is not a non-negative integer";
  if (!epochPattern.test(epochText)) return "epoch is not a positive integer";
  if (type !== "buy" && type !== "sell") return 'type is not "buy" or "sell"';
  if (!quantityPattern.test(quantityText)) return "quantity is not a positive integer";
  const order: OrderRecord = {
    number: Number(numberText),
    epoch: Number(epochText),
    name,
    quantity: Number(quantityText),
    requestId,
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
  /** The orders as loaded; the caller (the protocol core) keeps them from then on. */
  readonly loaded: readonly OrderRecord[];
  private readonly appendFile: AppendFile;
  /** Number and epoch the next appended order must follow. */
  private lastNumber: number;
  private lastEpoch: number;

  private constructor(file: string, loaded: OrderRecord[], appendFile: AppendFile, droppedTailBytes: number) {
    this.file = file;
    this.loaded = loaded;
    this.appendFile = appendFile;
    this.droppedTailBytes = droppedTailBytes;
    this.lastNumber = loaded.length - 1;
    this.lastEpoch = loaded[loaded.length - 1]?.epoch ?? 0;
  }

  /** Load (or create) the log. Throws SyntaxError naming the line of a malformed row. */
  static async open(file: string): Promise<OrderLog> {
    const { lines, tornTail, completeBytes } = await readLines(file);
    const records: OrderRecord[] = [];
    if (lines.length === 0) {
      // New file, or a crash tore the header itself: start over with a durable header.
      const appendFile = await AppendFile.open(file, 0);
      await appendFile.append(`${orderLogHeader}\n`);
      return new OrderLog(file, records, appendFile, Buffer.byteLength(tornTail));
    }
    if (lines[0] === oldOrderLogHeader) {
      throw loadError(file, 1, "this log was written by an older version (no epoch column); move it away to start over");
    }
    if (lines[0] !== orderLogHeader) throw loadError(file, 1, `expected the header "${orderLogHeader}"`);
    const numbers = new Map<string, number>();
    for (let i = 1; i < lines.length; i++) {
      const parsed = parseOrderRow(lines[i] as string);
      if (typeof parsed === "string") throw loadError(file, i + 1, parsed);
      if (parsed.number !== records.length) throw loadError(file, i + 1, `number ${parsed.number} where ${records.length} was expected`);
      const previous = records[records.length - 1];
      if (previous && parsed.epoch < previous.epoch) throw loadError(file, i + 1, `epoch ${parsed.epoch} goes back from ${previous.epoch}`);
      const earlier = numbers.get(parsed.requestId);
      if (earlier !== undefined) throw loadError(file, i + 1, `request_id already used by order ${earlier}`);
      records.push(parsed);
      numbers.set(parsed.requestId, parsed.number);
    }
    const appendFile = await AppendFile.open(file, completeBytes);
    return new OrderLog(file, records, appendFile, Buffer.byteLength(tornTail));
  }

  /** fdatasync calls so far (group commit shows as fewer flushes than appends). */
  get flushes(): number {
    return this.appendFile.flushes;
  }

  /**
   * Durably append orders numbered from the last one + 1; resolves once they are on disk.
   * Appends complete in the order they were made (one file, one flush queue).
   */
  append(orders: readonly OrderRecord[]): Promise<void> {
    assert(orders.length > 0, "append takes at least one order");
    let lastNumber = this.lastNumber;
    let lastEpoch = this.lastEpoch;
    for (const o of orders) {
      // Orders handed over were checked by the protocol core; re-check here, before the disk,
      // because a bad row written is a replica that refuses to start.
      assert(o.number === lastNumber + 1, `order ${o.number} is next in the log`);
      assert(o.epoch >= lastEpoch, `order ${o.number}'s epoch does not go back`);
      const problem = orderProblem(o);
      assert(problem === undefined, `order ${o.number} is well-formed: ${problem}`);
      lastNumber = o.number;
      lastEpoch = o.epoch;
    }
    // Only a batch that passed every check moves the end of the log.
    this.lastNumber = lastNumber;
    this.lastEpoch = lastEpoch;
    return this.appendFile.append(orders.map((o) => `${formatOrderRow(o)}\n`).join(""));
  }

  close(): Promise<void> {
    return this.appendFile.close();
  }
}

function loadError(file: string, line: number, reason: string): SyntaxError {
  return new SyntaxError(`Cannot load order log ${file}: line ${line}: ${reason}`);
}
