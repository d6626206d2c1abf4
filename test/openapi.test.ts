// The contract and the code cannot drift: every request docs/openapi.yaml describes, and every
// error it documents, is sent to a real system (catalog, three replicas, frontend), and each
// answer's status, headers and body are validated against the description (JSON Schema 2020-12).
// Then every path + method + status in the description must have been seen at least once.

import * as fs from "node:fs";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Ajv2020 } from "ajv/dist/2020.js";
import type { ValidateFunction } from "ajv/dist/2020.js";
import { parse } from "yaml";
import { openapiJson } from "../frontend/openapi_document.ts";
import { openapiModulePath, openapiYamlPath } from "../scripts/openapi.ts";
import { LocalSystem } from "./support/local_system.ts";
import { requestJson } from "./support/http.ts";
import type { JsonReply } from "./support/http.ts";
import { reported } from "./support/hooks.ts";

// deno-lint-ignore no-explicit-any -- the parsed OpenAPI document, walked by key
type Json = any;
type Method = "get" | "post";

const doc: Json = parse(fs.readFileSync(openapiYamlPath, "utf8"));
const schemaIdPrefix = "urn:stock-bazaar:schema:";
const ajv = new Ajv2020({ allErrors: true, strict: true });
// Each component schema is its own resource, so a fragment of a response compiles on its own.
const rewriteRefs = (value: unknown): Json => JSON.parse(JSON.stringify(value).replaceAll('"#/components/schemas/', `"${schemaIdPrefix}`));
for (const [name, schema] of Object.entries(doc.components.schemas)) ajv.addSchema({ ...rewriteRefs(schema), $id: schemaIdPrefix + name });
const validators = new Map<object, ValidateFunction>();

/** A `$ref` to "#/components/..." replaced by what it points at. */
function resolve(value: Json): Json {
  if (typeof value?.$ref !== "string") return value;
  return (value.$ref as string).slice(2).split("/").reduce((node: Json, key: string) => node[key], doc);
}

function validate(schema: object, value: unknown, what: string): void {
  let check = validators.get(schema);
  if (check === undefined) validators.set(schema, check = ajv.compile(rewriteRefs(schema)));
  assert.ok(check(value), `${what}: ${ajv.errorsText(check.errors)}\n${JSON.stringify(value).slice(0, 2000)}`);
}

/** path + method + status seen, to show every documented answer was exercised. */
const seen = new Set<string>();

/** Check one answer against the operation's documented response for its status. */
function conform(template: string, method: Method, reply: JsonReply, sentRequestId?: string): JsonReply {
  const what = `${method.toUpperCase()} ${template} → ${reply.status}`;
  const operation = doc.paths[template]?.[method];
  assert.ok(operation, `${method} ${template} is not in docs/openapi.yaml`);
  const response = resolve(operation.responses[String(reply.status)]);
  assert.ok(response, `${what} is not documented: ${JSON.stringify(reply.body)}`);
  seen.add(`${template} ${method} ${reply.status}`);
  for (const [name, ref] of Object.entries(response.headers ?? {})) {
    const spec = resolve(ref);
    const value = reply.headers[name.toLowerCase()];
    if (value === undefined) {
      assert.not.ok(spec.required, `${what}: header ${name} is required`);
      continue;
    }
    validate(spec.schema, value, `${what}: header ${name}`);
  }
  if (sentRequestId !== undefined && reply.headers["x-request-id"] !== undefined) {
    assert.is(reply.headers["x-request-id"], sentRequestId, `${what}: a valid X-Request-Id is echoed`);
  }
  const contentType = String(reply.headers["content-type"] ?? "");
  const mediaType = Object.keys(response.content).find((type) => contentType.split(";")[0]?.trim() === type);
  assert.ok(mediaType, `${what}: content-type ${contentType} is not documented`);
  if (mediaType === "application/json") assert.match(contentType, /charset=utf-8/, `${what}: JSON is sent as UTF-8`);
  validate(response.content[mediaType].schema, reply.body, `${what}: body`);
  if (reply.status >= 400) assert.is(reply.body.error.code, reply.status, `${what}: error.code repeats the status`);
  return reply;
}

let system: LocalSystem;
const send = (method: Method, path: string, body?: unknown, headers: Record<string, string> = {}) =>
  requestJson(system.url, method.toUpperCase(), path, body, headers);

test.before(reported("openapi system", async () => {
  system = await LocalSystem.start();
}));
test.after(async () => {
  await system?.stop(); // undefined after a failed setup, whose error is the one to see
});

test("the generated document the frontend serves is docs/openapi.yaml (else run `node --import tsx scripts/openapi.ts`)", () => {
  assert.equal(JSON.parse(openapiJson), doc, `${openapiModulePath} is stale`);
  assert.is(doc.openapi, "3.1.0");
});

test("GET /openapi.json serves the description", async () => {
  const reply = conform("/openapi.json", "get", await send("get", "/openapi.json"));
  assert.is(reply.status, 200);
  assert.equal(reply.body, doc);
});

test("GET /stocks/{name}: 200, 400 bad percent-encoding, 404 unknown or oversized name", async () => {
  const stock = conform(
    "/stocks/{name}",
    "get",
    await send("get", "/stocks/GameStart", undefined, { "x-request-id": "openapi-1" }),
    "openapi-1",
  );
  assert.equal(stock.body.data, { name: "GameStart", price: 15.99, quantity: 100, volume: 0 });
  assert.is(conform("/stocks/{name}", "get", await send("get", "/stocks/Game%53tart")).status, 200);
  assert.is(conform("/stocks/{name}", "get", await send("get", "/stocks/%E0%A4%A")).status, 400);
  assert.is(conform("/stocks/{name}", "get", await send("get", "/stocks/NoSuchCo")).status, 404);
  assert.is(conform("/stocks/{name}", "get", await send("get", "/stocks/gamestart")).status, 404, "names are case-sensitive");
  assert.is(conform("/stocks/{name}", "get", await send("get", `/stocks/${"x".repeat(65)}`)).status, 404);
});

test("POST /orders: 200, the same number for a repeated Idempotency-Key, 400 for each bad field, 409, 413", async () => {
  const order = { name: "FishCo", quantity: 2, type: "buy" };
  const plain = conform("/orders", "post", await send("post", "/orders", order, { "x-request-id": "openapi-2" }), "openapi-2");
  assert.is(plain.status, 200);
  const keyed = { "idempotency-key": "openapi-key-1" };
  const first = conform("/orders", "post", await send("post", "/orders", { ...order, type: "sell" }, keyed));
  const again = conform("/orders", "post", await send("post", "/orders", { ...order, type: "sell" }, keyed));
  assert.is(again.body.data.transaction_number, first.body.data.transaction_number);
  assert.is(first.body.data.transaction_number, plain.body.data.transaction_number + 1);
  const bad: [unknown, Record<string, string>, RegExp][] = [
    ["{not json", {}, /JSON/],
    [[1], {}, /object/],
    [{ quantity: 1, type: "buy" }, {}, /name/],
    [{ name: "x".repeat(65), quantity: 1, type: "buy" }, {}, /name/],
    [{ name: "FishCo", quantity: "1", type: "buy" }, {}, /quantity/],
    [{ name: "FishCo", quantity: 1_000_001, type: "buy" }, {}, /quantity/],
    [{ name: "FishCo", quantity: 1, type: "hold" }, {}, /type/],
    [{ name: "NoSuchCo", quantity: 1, type: "buy" }, {}, /unknown stock/],
    [order, { "idempotency-key": "x".repeat(129) }, /Idempotency-Key/],
  ];
  for (const [body, headers, message] of bad) {
    const reply = conform("/orders", "post", await send("post", "/orders", body, headers));
    assert.is(reply.status, 400, JSON.stringify(body));
    assert.match(reply.body.error.message, message);
  }
  const short = conform("/orders", "post", await send("post", "/orders", { name: "BoarCo", quantity: 1_000_000, type: "buy" }));
  assert.is(short.status, 409);
  const huge = conform("/orders", "post", await send("post", "/orders", { ...order, pad: "x".repeat(70_000) }));
  assert.is(huge.status, 413);
});

test("GET /orders/{number}: 200, 400 not a number, 404 unknown", async () => {
  const placed = await send("post", "/orders", { name: "MenhirCo", quantity: 3, type: "buy" });
  const n = placed.body.data.transaction_number;
  const reply = conform("/orders/{number}", "get", await send("get", `/orders/${n}`));
  assert.equal(reply.body.data, { number: n, name: "MenhirCo", type: "buy", quantity: 3 });
  for (const bad of ["abc", "-1", "1.5", "99999999999999999999"]) {
    assert.is(conform("/orders/{number}", "get", await send("get", `/orders/${bad}`)).status, 400, bad);
  }
  assert.is(conform("/orders/{number}", "get", await send("get", "/orders/99999999")).status, 404);
});

test("GET /health: 200 with every dependency", async () => {
  const reply = conform("/health", "get", await send("get", "/health"));
  assert.is(reply.status, 200);
  assert.is(reply.body.data.status, "ok");
});

test("GET /metrics: Prometheus text", async () => {
  const reply = conform("/metrics", "get", await send("get", "/metrics"));
  assert.is(reply.status, 200);
});

test("with the catalog and every replica down: 503 with Retry-After on lookups, trades and order queries; /health 503", async () => {
  await system.kill(system.catalog);
  await Promise.all(system.replicaIds.map((id) => system.killReplica(id)));
  const [lookup, trade, query, health] = await Promise.all([
    send("get", "/stocks/NeverLookedUpCo"),
    send("post", "/orders", { name: "FishCo", quantity: 1, type: "buy" }, { "idempotency-key": "openapi-outage" }),
    send("get", "/orders/0"),
    send("get", "/health"),
  ]);
  assert.is(conform("/stocks/{name}", "get", lookup).status, 503);
  assert.is(conform("/orders", "post", trade).status, 503);
  assert.is(conform("/orders/{number}", "get", query).status, 503);
  assert.is(conform("/health", "get", health).status, 503);
  assert.is(health.body.error.details.catalog.up, false);
});

test("every path, method and status in docs/openapi.yaml was exercised", () => {
  const documented: string[] = [];
  for (const [template, item] of Object.entries(doc.paths as Record<string, Json>)) {
    for (const [method, operation] of Object.entries(item as Record<string, Json>)) {
      for (const status of Object.keys(operation.responses)) documented.push(`${template} ${method} ${status}`);
    }
  }
  assert.equal(documented.filter((entry) => !seen.has(entry)), [], "documented but never exercised");
});

test.run();
