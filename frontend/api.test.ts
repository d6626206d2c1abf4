// How the frontend turns an order into a request id: every id it can send follows the rule
// every service shares (lib/protocol.ts), whatever visible ASCII the Idempotency-Key holds.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { requestIdProblem } from "../lib/protocol.ts";
import type { HttpRequest } from "./http/parser.ts";
import { requestIdFor } from "./api.ts";
import { idempotencyKeyBytesMax } from "./limits.ts";

const order = { name: "GameStart", quantity: 3, type: "buy" as const };

function withKey(key: string | undefined): HttpRequest {
  const headers = key === undefined ? {} : { "idempotency-key": key };
  return { headers } as unknown as HttpRequest;
}

test("without Idempotency-Key the id is a fresh UUID, and it passes the shared rule", () => {
  const a = requestIdFor(withKey(undefined), order);
  const b = requestIdFor(withKey(undefined), order);
  assert.is.not(a, b);
  assert.is(requestIdProblem(a), undefined);
});

test("every visible ASCII key (backslash, comma and quote included) gives an id that passes", () => {
  let all = "";
  for (let c = 0x21; c <= 0x7e; c++) all += String.fromCharCode(c);
  for (const key of [all, "\\", ",", '"', "x".repeat(idempotencyKeyBytesMax)]) {
    const id = requestIdFor(withKey(key), order);
    assert.match(id, /^k-[A-Za-z0-9_-]{32}$/);
    assert.is(requestIdProblem(id), undefined, key);
  }
});

test("the same key and order give the same id; another order another id", () => {
  const id = requestIdFor(withKey("k1"), order);
  assert.is(requestIdFor(withKey("k1"), order), id);
  assert.is.not(requestIdFor(withKey("k1"), { ...order, quantity: 4 }), id);
});

test("a key that is empty, too long or not visible ASCII is refused with 400", () => {
  for (const key of ["", "x".repeat(idempotencyKeyBytesMax + 1), "a b", "é"]) {
    assert.throws(() => requestIdFor(withKey(key), order), (err: unknown) => (err as { status?: number }).status === 400, key);
  }
});

test.run();
