import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { AssertionError } from "../lib/assert.ts";
import { OrderSide } from "../gen/order.ts";
import type { OrderRecord } from "../gen/order.ts";
import { quantityMax } from "./limits.ts";
import { OrderLog, formatOrderRow, orderLogFile, orderLogHeader, orderProblem, parseOrderRow } from "./order_log.ts";

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
  return { number, name: "GameStart", side: OrderSide.ORDER_SIDE_BUY, quantity: 1 + (number % 5), requestId: `req-${number}`, ...over };
}

function rows(orders: readonly OrderRecord[]): string {
  return `${orderLogHeader}\n${orders.map((o) => `${formatOrderRow(o)}\n`).join("")}`;
}

async function refused(file: string): Promise<string> {
  try {
    await OrderLog.open(file);
  } catch (err) {
    assert.instance(err, SyntaxError);
    return (err as Error).message;
  }
  throw new Error("expected the log to be refused");
}

test("a new log is the header line alone", async () => {
  const file = tempFile();
  const log = await OrderLog.open(file);
  assert.is(log.lastNumber, -1);
  assert.is(fs.readFileSync(file, "utf8"), `${orderLogHeader}\n`);
  assert.is(orderLogHeader, "number,name,type,quantity,request_id");
  await log.close();
});

test("rows are formatted number,name,type,quantity,request_id", () => {
  assert.is(formatOrderRow(order(7)), "7,GameStart,buy,3,req-7");
  assert.is(formatOrderRow(order(0, { side: OrderSide.ORDER_SIDE_SELL, name: "Menhir Co" })), "0,Menhir Co,sell,1,req-0");
  assert.equal(parseOrderRow("7,GameStart,buy,3,req-7"), order(7));
});

test("appended orders survive a reopen, with their request id index", async () => {
  const file = tempFile();
  const log = await OrderLog.open(file);
  await log.append([order(0), order(1)]);
  await log.append([order(2)]);
  await log.close();
  const again = await OrderLog.open(file);
  assert.is(again.lastNumber, 2);
  assert.equal(again.at(1), order(1));
  assert.is(again.numberOf("req-2"), 2);
  assert.is(again.numberOf("nope"), undefined);
  assert.equal(again.slice(1, 10), [order(1), order(2)]);
  assert.is(fs.readFileSync(file, "utf8"), rows([order(0), order(1), order(2)]));
  await again.close();
});

test("the same orders give byte-identical files, however they were grouped", async () => {
  const a = tempFile();
  const b = tempFile();
  const orders = Array.from({ length: 10 }, (_, i) => order(i));
  const la = await OrderLog.open(a);
  await la.append(orders);
  const lb = await OrderLog.open(b);
  for (const o of orders) await lb.append([o]);
  await la.close();
  await lb.close();
  assert.ok(fs.readFileSync(a).equals(fs.readFileSync(b)));
});

test("a torn last line is dropped and cut off the file", async () => {
  const file = tempFile();
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `${rows([order(0), order(1)])}2,GameSt`);
  const log = await OrderLog.open(file);
  assert.is(log.lastNumber, 1);
  assert.is(log.droppedTailBytes, "2,GameSt".length);
  await log.append([order(2)]);
  await log.close();
  assert.is(fs.readFileSync(file, "utf8"), rows([order(0), order(1), order(2)]));
});

test("a torn header starts the log over", async () => {
  const file = tempFile();
  fs.writeFileSync(file, "number,na");
  const log = await OrderLog.open(file);
  assert.is(log.lastNumber, -1);
  await log.close();
  assert.is(fs.readFileSync(file, "utf8"), `${orderLogHeader}\n`);
});

test("a corrupt middle row refuses to load, naming its line", async () => {
  const file = tempFile();
  fs.writeFileSync(file, `${orderLogHeader}\n${formatOrderRow(order(0))}\n0,Game\u0000Start,buy,1,x\n${formatOrderRow(order(2))}\n`);
  const message = await refused(file);
  assert.match(message, /line 3/);
  assert.match(message, /control character/);
});

test("rows out of sequence, repeated request ids and a wrong header are refused", async () => {
  const file = tempFile();
  fs.writeFileSync(file, rows([order(0), order(2)]));
  assert.match(await refused(file), /line 3: number 2 where 1 was expected/);
  fs.writeFileSync(file, rows([order(0), order(1, { requestId: "req-0" })]));
  assert.match(await refused(file), /line 3: request_id already used by order 0/);
  fs.writeFileSync(file, `number,name,side,quantity,request_id\n`);
  assert.match(await refused(file), /line 1: expected the header/);
});

test("malformed fields are refused: non-canonical numbers, unknown type, extra fields", () => {
  assert.type(parseOrderRow("01,GameStart,buy,1,a"), "string");
  assert.type(parseOrderRow("1,GameStart,hold,1,a"), "string");
  assert.type(parseOrderRow("1,GameStart,buy,0,a"), "string");
  assert.type(parseOrderRow("1,GameStart,buy,+1,a"), "string");
  assert.type(parseOrderRow(`1,GameStart,buy,${quantityMax + 1},a`), "string");
  assert.type(parseOrderRow("1,GameStart,buy,1,a,b"), "string");
  assert.type(parseOrderRow("1,,buy,1,a"), "string");
  assert.type(parseOrderRow("1,GameStart,buy,1,"), "string");
});

test("orderProblem rejects what a CSV field cannot hold", () => {
  assert.is(orderProblem(order(0)), undefined);
  assert.match(orderProblem(order(0, { name: "A,B" })) ?? "", /comma/);
  assert.match(orderProblem(order(0, { name: "A\nB" })) ?? "", /control/);
  assert.match(orderProblem(order(0, { requestId: 'a"b' })) ?? "", /request_id/);
  assert.match(orderProblem(order(0, { requestId: "a b" })) ?? "", /request_id/);
  assert.match(orderProblem(order(0, { side: OrderSide.ORDER_SIDE_UNSPECIFIED })) ?? "", /side/);
  assert.match(orderProblem(order(0, { quantity: 1.5 })) ?? "", /quantity/);
  assert.match(orderProblem(order(-1)) ?? "", /number/);
});

test("append checks orders before writing: next number, well-formed, new request id", async () => {
  const file = tempFile();
  const log = await OrderLog.open(file);
  await log.append([order(0)]);
  for (const bad of [[order(2)], [order(1, { requestId: "req-0" })], [order(1, { name: "" })]]) {
    try {
      await log.append(bad);
      assert.unreachable("append should refuse");
    } catch (err) {
      assert.instance(err, AssertionError);
    }
  }
  await log.close();
  assert.is(fs.readFileSync(file, "utf8"), rows([order(0)]));
});

test("truncateFrom keeps the prefix, atomically, and appending goes on from there", async () => {
  const file = tempFile();
  const log = await OrderLog.open(file);
  await log.append([0, 1, 2, 3, 4].map((n) => order(n)));
  await log.truncateFrom(3);
  assert.is(log.lastNumber, 2);
  assert.is(log.numberOf("req-3"), undefined);
  await log.append([order(3, { requestId: "other-3" })]);
  await log.close();
  const again = await OrderLog.open(file);
  assert.equal(again.slice(0, 10), [order(0), order(1), order(2), order(3, { requestId: "other-3" })]);
  assert.equal(fs.readdirSync(path.dirname(file)), ["orders-1.csv"]);
  await again.close();
});

test.run();
