// The order log file: the row format with its epoch column, loading (validation, torn tail,
// a log from before epochs refused), byte-identical files for the same orders, and the checks
// append makes before anything reaches the disk. The log is append-only: nothing truncates it.

import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { AssertionError } from "../lib/assert.ts";
import { OrderSide } from "../gen/order.ts";
import type { OrderRecord } from "../gen/order.ts";
import { orderQuantityMax } from "../lib/protocol.ts";
import { formatOrderRow, OrderLog, orderLogFile, orderLogHeader, parseOrderRow } from "./order_log.ts";
import { nameProblem, orderProblem, sameOrder } from "./order_rules.ts";
import { rejects } from "../test/support/throws.ts";

const dirs: string[] = [];

function tempFile(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sb-orderlog-"));
  dirs.push(dir);
  return orderLogFile(dir, 1);
}

test.after(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

function order(number: number, over: Partial<OrderRecord> = {}): OrderRecord {
  return {
    number,
    epoch: 1,
    name: "GameStart",
    side: OrderSide.ORDER_SIDE_BUY,
    quantity: 1 + (number % 5),
    requestId: `req-${number}`,
    ...over,
  };
}

function rows(orders: readonly OrderRecord[]): string {
  return `${orderLogHeader}\n${orders.map((o) => `${formatOrderRow(o)}\n`).join("")}`;
}

async function refused(file: string): Promise<string> {
  const opened = OrderLog.open(file).then((log) => log.close());
  return (await rejects(opened, SyntaxError)).message;
}

async function appendRefused(log: OrderLog, orders: OrderRecord[]): Promise<void> {
  // append checks synchronously: the call goes inside the promise so a throw counts too.
  await rejects(Promise.resolve().then(() => log.append(orders)), AssertionError);
}

test("a new log is the header line alone", async () => {
  const file = tempFile();
  const log = await OrderLog.open(file);
  assert.equal(log.loaded, []);
  assert.is(log.droppedTailBytes, 0);
  assert.is(fs.readFileSync(file, "utf8"), `${orderLogHeader}\n`);
  assert.is(orderLogHeader, "number,epoch,name,type,quantity,request_id");
  await log.close();
});

test("rows are formatted number,epoch,name,type,quantity,request_id and parse back", () => {
  assert.is(formatOrderRow(order(7)), "7,1,GameStart,buy,3,req-7");
  assert.is(formatOrderRow(order(0, { epoch: 12, side: OrderSide.ORDER_SIDE_SELL, name: "Menhir Co" })), "0,12,Menhir Co,sell,1,req-0");
  assert.equal(parseOrderRow("7,1,GameStart,buy,3,req-7"), order(7));
  assert.equal(parseOrderRow("0,12,Menhir Co,sell,1,req-0"), order(0, { epoch: 12, side: OrderSide.ORDER_SIDE_SELL, name: "Menhir Co" }));
});

test("appended orders survive a reopen, epochs included", async () => {
  const file = tempFile();
  const log = await OrderLog.open(file);
  await log.append([order(0), order(1)]);
  await log.append([order(2, { epoch: 3 }), order(3, { epoch: 3 })]);
  await log.close();
  const again = await OrderLog.open(file);
  const expected = [order(0), order(1), order(2, { epoch: 3 }), order(3, { epoch: 3 })];
  assert.equal(again.loaded, expected);
  assert.is(fs.readFileSync(file, "utf8"), rows(expected));
  // Appending goes on after the loaded orders.
  await again.append([order(4, { epoch: 3 })]);
  await again.close();
  assert.is(fs.readFileSync(file, "utf8"), rows([...expected, order(4, { epoch: 3 })]));
});

test("the same orders give byte-identical files, however they were grouped", async () => {
  const a = tempFile();
  const b = tempFile();
  const orders = Array.from({ length: 10 }, (_, i) => order(i, { epoch: 1 + Math.floor(i / 4) }));
  const la = await OrderLog.open(a);
  await la.append(orders);
  const lb = await OrderLog.open(b);
  for (const o of orders) await lb.append([o]);
  await la.close();
  await lb.close();
  assert.ok(fs.readFileSync(a).equals(fs.readFileSync(b)));
  assert.is(fs.readFileSync(a, "utf8"), rows(orders));
});

test("concurrent appends share flushes and land in order", async () => {
  const file = tempFile();
  const log = await OrderLog.open(file);
  const orders = Array.from({ length: 20 }, (_, i) => order(i));
  await Promise.all(orders.map((o) => log.append([o])));
  assert.ok(log.flushes < orders.length, `${log.flushes} flushes for ${orders.length} appends`);
  await log.close();
  assert.is(fs.readFileSync(file, "utf8"), rows(orders));
});

test("a torn last line is dropped and cut off the file", async () => {
  const file = tempFile();
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `${rows([order(0), order(1)])}2,1,GameSt`);
  const log = await OrderLog.open(file);
  assert.equal(log.loaded, [order(0), order(1)]);
  assert.is(log.droppedTailBytes, "2,1,GameSt".length);
  await log.append([order(2)]);
  await log.close();
  assert.is(fs.readFileSync(file, "utf8"), rows([order(0), order(1), order(2)]));
});

test("a torn header starts the log over", async () => {
  const file = tempFile();
  fs.writeFileSync(file, "number,ep");
  const log = await OrderLog.open(file);
  assert.equal(log.loaded, []);
  assert.is(log.droppedTailBytes, "number,ep".length);
  await log.close();
  assert.is(fs.readFileSync(file, "utf8"), `${orderLogHeader}\n`);
});

test("a log in the old format (no epoch column) is refused with a message naming the file", async () => {
  const file = tempFile();
  const old = "number,name,type,quantity,request_id\n0,GameStart,buy,1,req-0\n";
  fs.writeFileSync(file, old);
  const message = await refused(file);
  assert.ok(message.includes(file), message);
  assert.match(message, /line 1/);
  assert.match(message, /older version \(no epoch column\)/);
  // Refused means untouched: the operator can move it away intact.
  assert.is(fs.readFileSync(file, "utf8"), old);
});

test("a corrupt middle row refuses to load, naming its line", async () => {
  const file = tempFile();
  fs.writeFileSync(file, `${orderLogHeader}\n${formatOrderRow(order(0))}\n1,1,Game\u0000Start,buy,1,x\n${formatOrderRow(order(2))}\n`);
  const message = await refused(file);
  assert.ok(message.includes(file), message);
  assert.match(message, /line 3/);
  assert.match(message, /control character/);
});

test("rows out of sequence, epochs going back, repeated request ids and a wrong header are refused", async () => {
  const file = tempFile();
  fs.writeFileSync(file, rows([order(0), order(2)]));
  assert.match(await refused(file), /line 3: number 2 where 1 was expected/);
  fs.writeFileSync(file, rows([order(0, { epoch: 2 }), order(1, { epoch: 2 }), order(2, { epoch: 1 })]));
  assert.match(await refused(file), /line 4: epoch 1 goes back from 2/);
  fs.writeFileSync(file, rows([order(0), order(1, { requestId: "req-0" })]));
  assert.match(await refused(file), /line 3: request_id already used by order 0/);
  fs.writeFileSync(file, "number,epoch,name,side,quantity,request_id\n");
  assert.match(await refused(file), /line 1: expected the header/);
  // Epochs that stay or go up load.
  fs.writeFileSync(file, rows([order(0, { epoch: 1 }), order(1, { epoch: 1 }), order(2, { epoch: 5 })]));
  const log = await OrderLog.open(file);
  assert.equal(log.loaded.map((o) => o.epoch), [1, 1, 5]);
  await log.close();
});

test("malformed fields are refused: non-canonical numbers, epoch 0, unknown type, wrong field count", () => {
  assert.type(parseOrderRow("1,1,GameStart,buy,1,a"), "object");
  assert.type(parseOrderRow("01,1,GameStart,buy,1,a"), "string");
  assert.type(parseOrderRow("1,0,GameStart,buy,1,a"), "string");
  assert.type(parseOrderRow("1,01,GameStart,buy,1,a"), "string");
  assert.type(parseOrderRow("1,-1,GameStart,buy,1,a"), "string");
  assert.type(parseOrderRow(`1,${Number.MAX_SAFE_INTEGER + 2},GameStart,buy,1,a`), "string");
  assert.type(parseOrderRow("1,1,GameStart,hold,1,a"), "string");
  assert.type(parseOrderRow("1,1,GameStart,buy,0,a"), "string");
  assert.type(parseOrderRow("1,1,GameStart,buy,+1,a"), "string");
  assert.type(parseOrderRow(`1,1,GameStart,buy,${orderQuantityMax + 1},a`), "string");
  assert.type(parseOrderRow("1,1,GameStart,buy,1,a,b"), "string");
  assert.type(parseOrderRow("1,GameStart,buy,1,a"), "string");
  assert.type(parseOrderRow("1,1,,buy,1,a"), "string");
  assert.type(parseOrderRow("1,1,GameStart,buy,1,"), "string");
});

test("orderProblem rejects what a CSV field cannot hold and an epoch below 1", () => {
  assert.is(orderProblem(order(0)), undefined);
  assert.match(orderProblem(order(0, { name: "A,B" })) ?? "", /comma/);
  assert.match(orderProblem(order(0, { name: "A\nB" })) ?? "", /control/);
  assert.match(orderProblem(order(0, { requestId: 'a"b' })) ?? "", /request_id/);
  assert.match(orderProblem(order(0, { requestId: "a b" })) ?? "", /request_id/);
  assert.match(orderProblem(order(0, { side: OrderSide.ORDER_SIDE_UNSPECIFIED })) ?? "", /side/);
  assert.match(orderProblem(order(0, { quantity: 1.5 })) ?? "", /quantity/);
  assert.match(orderProblem(order(-1)) ?? "", /number/);
  assert.match(orderProblem(order(0, { epoch: 0 })) ?? "", /epoch/);
  assert.match(orderProblem(order(0, { epoch: 1.5 })) ?? "", /epoch/);
  assert.is(nameProblem("GameStart"), undefined);
  assert.match(nameProblem("") ?? "", /empty/);
});

test("sameOrder compares every field, the epoch included", () => {
  assert.ok(sameOrder(order(3), order(3)));
  assert.not.ok(sameOrder(order(3), order(3, { epoch: 2 })));
  assert.not.ok(sameOrder(order(3), order(3, { requestId: "other" })));
  assert.not.ok(sameOrder(order(3), order(3, { quantity: 99 })));
  assert.not.ok(sameOrder(order(3), order(3, { side: OrderSide.ORDER_SIDE_SELL })));
  assert.not.ok(sameOrder(order(3), order(3, { name: "FishCo" })));
  assert.not.ok(sameOrder(order(3), { ...order(4), requestId: "req-3", quantity: order(3).quantity }));
});

test("append checks orders before writing: next number, well-formed, epoch not going back", async () => {
  const file = tempFile();
  const log = await OrderLog.open(file);
  await log.append([order(0, { epoch: 2 })]);
  await appendRefused(log, [order(2, { epoch: 2 })]);
  await appendRefused(log, [order(0, { epoch: 2 })]);
  await appendRefused(log, [order(1, { epoch: 2, name: "" })]);
  await appendRefused(log, [order(1, { epoch: 1 })]);
  await appendRefused(log, [order(1, { epoch: 0 })]);
  await appendRefused(log, [order(1, { epoch: 3 }), order(2, { epoch: 2 })]);
  // The checks are before the disk: nothing of a refused append was written.
  assert.is(fs.readFileSync(file, "utf8"), rows([order(0, { epoch: 2 })]));
  // The same and a newer epoch are taken.
  await log.append([order(1, { epoch: 2 }), order(2, { epoch: 4 })]);
  await log.close();
  assert.is(fs.readFileSync(file, "utf8"), rows([order(0, { epoch: 2 }), order(1, { epoch: 2 }), order(2, { epoch: 4 })]));
});

test.run();
