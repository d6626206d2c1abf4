// A container health probe: one call to the local service's own health endpoint, exit 0 when
// it passes and 1 when it does not (2 for bad arguments). It needs nothing but Node's built-in
// modules, so the image needs no curl or grpc tool, and it is cheap to run every few seconds:
// the Dockerfile bundles it into one plain-JavaScript file run without tsx,
//   node scripts/healthcheck.mjs frontend|catalog|order [--live]
// (from the sources: node --import tsx scripts/healthcheck.ts ...). The port comes from the
// service's own configuration loader reading the same environment, so the probe asks the port
// the service bound. It does not restart or repair anything.
//
// What passes:
// - catalog: the Health rpc answers.
// - order: the Health rpc answers and the replica has recovered (`ready`); with --live (for
//   liveness probes, which restart what fails) answering is enough, so a long catch-up from
//   the peers does not get the replica killed.
// - frontend: GET /health answers with its JSON report, 200 ("ok") or 503 ("degraded"). A 503
//   names a dependency (catalog, order leader) that the frontend itself waits out and fails
//   over from; taking the frontend out of service for it would help nothing, and after a
//   leader crash an idle frontend selects a new leader only when the next order arrives.

import * as http from "node:http";
import * as http2 from "node:http2";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import type { Env } from "../lib/config.ts";
import { readCatalogConfig } from "../catalog/config.ts";
import { readOrderConfig } from "../order/config.ts";
import { loadFrontendConfig } from "../frontend/config.ts";

/** Deadline of the one health call: below the 5 s timeout compose.yaml and deploy/k8s/ give the probe. */
export const probeTimeoutMs = 3_000;
/** Bounds what the probe reads from a health answer; the real ones are far smaller. */
const replyBytesMax = 1024 * 1024;

/** gRPC paths of the Health rpcs (protos/); test/deploy.test.ts checks them against gen/. */
export const catalogHealthPath = "/stockbazaar.catalog.Catalog/Health";
export const orderHealthPath = "/stockbazaar.order.Order/Health";
/** Field numbers of the Health replies (protos/); test/deploy.test.ts checks them against gen/. */
export const catalogHealthFields = { stocks: 1, subscribers: 2, tradesApplied: 3 } as const;
export const orderHealthFields = { id: 1, lastNumber: 2, epoch: 3, leaderId: 4, ready: 5 } as const;

export const probeServices = ["frontend", "catalog", "order"] as const;
export type ProbeService = (typeof probeServices)[number];
export type ProbeArgs = { readonly service: ProbeService; readonly live: boolean };
export type ProbeResult = { readonly ok: boolean; readonly detail: string };

/** Throws TypeError for arguments the probe does not accept. */
export function parseProbeArgs(argv: readonly string[]): ProbeArgs {
  const { values, positionals } = parseArgs({ args: [...argv], options: { live: { type: "boolean" } }, allowPositionals: true });
  const service = positionals[0];
  if (positionals.length !== 1 || !probeServices.some((s) => s === service)) {
    throw new TypeError(`expected one service, ${probeServices.join(" | ")}, and optionally --live (got "${argv.join(" ")}")`);
  }
  return { service: service as ProbeService, live: values.live ?? false };
}

/** The address to call for a service bound to `host`: a wildcard bind is reached on loopback. */
export function probeHost(host: string): string {
  if (host === "0.0.0.0") return "127.0.0.1";
  if (host === "::" || host === "[::]") return "::1";
  return host.replace(/^\[(.*)\]$/, "$1");
}

function authority(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** GET a path; resolves with the status and the body text. */
function httpGet(host: string, port: number, urlPath: string, timeoutMs: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host, port, path: urlPath, timeout: timeoutMs, agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        body += chunk;
        if (body.length > replyBytesMax) req.destroy(new RangeError(`reply over ${replyBytesMax} bytes`));
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("timeout", () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on("error", reject);
  });
}

/**
 * One unary gRPC call with an empty request message, straight over node:http2 (gRPC's framing:
 * a 5-byte prefix, compressed flag and length, before each message; the status in trailers).
 * Resolves with the reply message's bytes.
 */
export function grpcUnaryEmpty(host: string, port: number, methodPath: string, timeoutMs: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://${authority(host, port)}`);
    let settled = false;
    let timer: ReturnType<typeof setTimeout> | undefined = undefined;
    const finish = (err: Error | undefined, bytes?: Uint8Array): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      session.destroy();
      if (err) reject(err);
      else resolve(bytes as Uint8Array);
    };
    timer = setTimeout(() => finish(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    session.on("error", (err) => finish(err));
    const req = session.request({ ":method": "POST", ":path": methodPath, "content-type": "application/grpc", te: "trailers" });
    const chunks: Buffer[] = [];
    let size = 0;
    let status: string | undefined;
    let message = "";
    const noteStatus = (headers: http2.IncomingHttpHeaders): void => {
      if (headers["grpc-status"] !== undefined) status = String(headers["grpc-status"]);
      if (headers["grpc-message"] !== undefined) message = decodeURIComponent(String(headers["grpc-message"]));
    };
    // A failing call may answer "trailers-only": its status arrives with the headers.
    req.on("response", (headers) => {
      if (headers[":status"] !== 200) finish(new Error(`HTTP/2 status ${headers[":status"]}`));
      noteStatus(headers);
    });
    req.on("trailers", noteStatus);
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > replyBytesMax) finish(new RangeError(`reply over ${replyBytesMax} bytes`));
      chunks.push(chunk);
    });
    req.on("end", () => {
      if (status !== "0") return finish(new Error(`grpc-status ${status ?? "missing"}${message ? `: ${message}` : ""}`));
      const frame = Buffer.concat(chunks);
      if (frame.length < 5 || frame[0] !== 0 || frame.readUInt32BE(1) !== frame.length - 5) {
        return finish(new SyntaxError("Cannot parse gRPC reply: not one uncompressed message"));
      }
      finish(undefined, frame.subarray(5));
    });
    req.on("error", (err) => finish(err));
    req.end(Buffer.alloc(5));
  });
}

/** The varint fields of a protobuf message by field number; other fields (strings, packed lists) are skipped. */
export function decodeVarintFields(bytes: Uint8Array): Map<number, bigint> {
  const fields = new Map<number, bigint>();
  let at = 0;
  const varint = (): bigint => {
    let value = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      const byte = bytes[at++];
      if (byte === undefined) throw new SyntaxError("Cannot parse health reply: truncated varint");
      value |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return BigInt.asIntN(64, value);
    }
    throw new SyntaxError("Cannot parse health reply: varint over 10 bytes");
  };
  while (at < bytes.length) {
    const key = varint();
    const field = Number(key >> 3n);
    const wireType = Number(key & 7n);
    if (wireType === 0) fields.set(field, varint());
    else if (wireType === 1) at += 8;
    else if (wireType === 2) {
      // Read the length first: `at += varint()` would add it to `at` as it was before the length.
      const length = Number(varint());
      at += length;
    } else if (wireType === 5) at += 4;
    else throw new SyntaxError(`Cannot parse health reply: wire type ${wireType} of field ${field}`);
    if (at > bytes.length) throw new SyntaxError("Cannot parse health reply: truncated field");
  }
  return fields;
}

async function probeFrontend(env: Env): Promise<ProbeResult> {
  const config = loadFrontendConfig(env);
  const host = probeHost(config.host);
  const reply = await httpGet(host, config.port, "/health", probeTimeoutMs);
  const detail = `GET http://${authority(host, config.port)}/health: ${reply.status}`;
  let body: { data?: unknown; error?: { code?: unknown } };
  try {
    body = JSON.parse(reply.body) as typeof body;
  } catch {
    return { ok: false, detail: `${detail}, not JSON` };
  }
  const answered = (reply.status === 200 && body.data !== undefined) || (reply.status === 503 && body.error?.code === 503);
  return { ok: answered, detail };
}

async function probeCatalog(env: Env): Promise<ProbeResult> {
  const config = readCatalogConfig(env);
  const reply = decodeVarintFields(await grpcUnaryEmpty(probeHost(config.host), config.port, catalogHealthPath, probeTimeoutMs));
  const f = catalogHealthFields;
  return { ok: true, detail: `catalog :${config.port}: ${reply.get(f.stocks) ?? 0} stocks, ${reply.get(f.subscribers) ?? 0} subscribers` };
}

async function probeOrder(env: Env, live: boolean): Promise<ProbeResult> {
  const config = readOrderConfig(env);
  const reply = decodeVarintFields(await grpcUnaryEmpty(probeHost(config.host), config.port, orderHealthPath, probeTimeoutMs));
  const f = orderHealthFields;
  const ready = (reply.get(f.ready) ?? 0n) !== 0n;
  const detail = `order replica ${reply.get(f.id) ?? 0} :${config.port}: ready=${ready} last=${reply.get(f.lastNumber) ?? 0} ` +
    `epoch=${reply.get(f.epoch) ?? 0} leader=${reply.get(f.leaderId) ?? 0}`;
  return { ok: live || ready, detail };
}

export async function probe(args: ProbeArgs, env: Env): Promise<ProbeResult> {
  switch (args.service) {
    case "frontend":
      return probeFrontend(env);
    case "catalog":
      return probeCatalog(env);
    case "order":
      return probeOrder(env, args.live);
  }
}

async function main(): Promise<void> {
  let args: ProbeArgs;
  try {
    args = parseProbeArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`healthcheck: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(2);
  }
  try {
    const result = await probe(args, process.env);
    process.stdout.write(`healthcheck: ${result.ok ? "healthy" : "unhealthy"}: ${result.detail}\n`);
    process.exit(result.ok ? 0 : 1);
  } catch (err) {
    process.stdout.write(`healthcheck: unhealthy: ${args.service}: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  }
}

// Run only as the program started (directly, or through scripts/entrypoint.ts, which sets
// argv[1] to this file): tests import this module. Not imported from entrypoint.ts, whose
// top-level await on this module would make that import a deadlocked cycle.
const started = process.argv[1];
if (started !== undefined && path.resolve(started) === fileURLToPath(import.meta.url)) await main();
