// The floor under a request's latency on this machine: the primitives a lookup and a trade are
// made of, each timed alone, client and server in this one process, no work besides the bytes:
// a TCP ping-pong on 127.0.0.1, a keep-alive GET from the latency sessions' client (sessionClient)
// to a bare node:http server, a node:http2 request, a
// @grpc/grpc-js unary call and a message round trip on an open grpc-js bidi stream (with the
// project's channel and server options), and append + fdatasync of a small record to a file in
// the data directory the services use. floorsOf() composes them into the latency floors.
//
// Those are hot: one process, one round trip right after the other, nobody ever sleeps. On the
// trade path of one session every hop reaches a process that has been idle since its last turn,
// and waking it costs more than the bytes (on this VM an idle vCPU halts, and a wake-up goes
// through the hypervisor). So the HTTP and stream round trips are measured once more "woken":
// to a peer process (floor_peer.ts), after an idle gap before each, and floorsOf() composes a
// second set of floors from those.

import * as fs from "node:fs";
import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import * as path from "node:path";
import { bindServer, callUnary, channelOptions, grpc, serverOptions } from "../../lib/grpc.ts";
import { StockBazaarClient } from "../../client/stock_bazaar_client.ts";

export const floorPrimitives = [
  "tcp",
  "http",
  "http2",
  "grpcUnary",
  "grpcStream",
  "fdatasync",
  "httpWoken",
  "grpcStreamWoken",
  "fdatasyncWoken",
] as const;
export type FloorPrimitive = typeof floorPrimitives[number];

/**
 * Idle time before each woken round trip: about what a process on the one-session trade path
 * sleeps between its turns (a trade takes a few milliseconds, and each process works a small
 * part of it), long enough for an idle vCPU to halt.
 */
export const wokenGapMs = 2;

export const floorDescriptions: Record<FloorPrimitive, string> = {
  tcp: "raw TCP ping-pong on 127.0.0.1",
  http: "bare node:http server, keep-alive GET round trip with the sessions' StockBazaarClient",
  http2: "node:http2 request on an open session",
  grpcUnary: "@grpc/grpc-js unary call",
  grpcStream: "message round trip on an open grpc-js bidi stream",
  fdatasync: "append + fdatasync of a small record, in the services' data directory",
  httpWoken: `woken: the bare node:http GET round trip to a server in another process, after ${wokenGapMs} ms idle`,
  grpcStreamWoken: `woken: the grpc-js bidi stream round trip to another process, after ${wokenGapMs} ms idle`,
  fdatasyncWoken: `woken: append + fdatasync as above, after ${wokenGapMs} ms idle (the disk's completion wakes the process)`,
};

/** About the size of a stock's JSON or a one-order batch: the messages the hot paths carry. */
const messageBytes = 128;
/** One order-log row, as the replicas append it. */
const fdatasyncRecord = Buffer.from("123456,GameStart,sell,1,k-0123456789abcdef0123456789abcdef\n");
/** The body the bare HTTP servers answer: a stock as GET /stocks/{name} returns it. */
const stockBody = JSON.stringify({ data: { name: "GameStart", price: 15.99, quantity: 100, volume: 0 } });
/** A unary floor call has this deadline; on an idle loopback it takes well under a millisecond. */
const floorCallTimeoutMs = 5_000;
/** A latency session's deadline per call: on an idle local system a slower answer is a fault. */
const sessionCallDeadlineMs = 10_000;

/**
 * The client of one latency session (bench/latency.ts) and of the floor's HTTP round trip, so
 * both pay the same client cost: StockBazaarClient on ONE keep-alive connection, one call at a
 * time, each call's time including the client's parse and check of the JSON body.
 */
export function sessionClient(port: number): StockBazaarClient {
  return new StockBazaarClient({ baseUrl: `http://127.0.0.1:${port}`, connectionsMax: 1, deadlineMs: sessionCallDeadlineMs });
}
/** A sample loop that runs this much past its time bound is hung: it fails instead of waiting. */
const floorHangMs = 10_000;

/** Trade path (README "Architecture"): frontend → leader, leader → catalog, leader → followers. */
const tradeStreamHops = 3;
/** The catalog's fsync, then the replicas' (in parallel with each other): two in series. */
const tradeFsyncsInSeries = 2;

export type SampleBound = {
  /** Untimed calls first: connections open, code warm. */
  readonly warmups: number;
  readonly samplesMax: number;
  readonly durationMsMax: number;
};

export type Floors = {
  readonly tradeMs: number;
  readonly lookupUncachedMs: number;
  readonly lookupCachedMs: number;
  /**
   * The trade floor from the woken round trips: on the one-session trade path every hop reaches
   * a process that was idle for milliseconds. (A session's lookups follow each other within a
   * fraction of a millisecond, so the hot floors are the ones that apply to them.)
   */
  readonly tradeWokenMs: number;
};

/**
 * The floors from the primitives' p50s: a trade is the client's HTTP round trip, three stream
 * round trips and two fsyncs in series; an uncached lookup is the HTTP round trip and one
 * stream round trip to the catalog; a cached one is the HTTP round trip alone. The woken trade
 * floor is the same sum with the woken round trips.
 */
export function floorsOf(p50: Readonly<Record<FloorPrimitive, number>>): Floors {
  const r = (x: number): number => Math.round(x * 1000) / 1000;
  const trade = (httpMs: number, streamMs: number, fsyncMs: number): number =>
    r(httpMs + tradeStreamHops * streamMs + tradeFsyncsInSeries * fsyncMs);
  return {
    tradeMs: trade(p50.http, p50.grpcStream, p50.fdatasync),
    lookupUncachedMs: r(p50.http + p50.grpcStream),
    lookupCachedMs: r(p50.http),
    tradeWokenMs: trade(p50.httpWoken, p50.grpcStreamWoken, p50.fdatasyncWoken),
  };
}

/**
 * Durations (ms) of append + fdatasync on a new file in `dir`, removed afterwards; with `gapMs`
 * idle before each timed append (the warm-ups run back to back).
 */
export async function appendFdatasyncSamples(dir: string, bound: SampleBound, gapMs = 0): Promise<number[]> {
  const file = path.join(dir, `bench-fdatasync-probe-${process.pid}.csv`);
  const fd = fs.openSync(file, "a");
  try {
    return await sampleLoop("fdatasync", bound, () => {
      fs.writeSync(fd, fdatasyncRecord);
      fs.fdatasyncSync(fd);
      return Promise.resolve();
    }, gapMs);
  } finally {
    fs.closeSync(fd);
    fs.rmSync(file, { force: true });
  }
}

/**
 * Round trips of `once`, timed one after the other (after `gapMs` idle before each, untimed),
 * within the bound; fails if one hangs.
 */
async function sampleLoop(what: string, bound: SampleBound, once: () => Promise<unknown>, gapMs = 0): Promise<number[]> {
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`floor: ${what} hung (bound ${bound.durationMsMax} ms)`)), bound.durationMsMax + floorHangMs);
  });
  const loop = async (): Promise<number[]> => {
    for (let i = 0; i < bound.warmups; i++) await once();
    const samples: number[] = [];
    const started = performance.now();
    while (samples.length < bound.samplesMax && performance.now() - started < bound.durationMsMax) {
      if (gapMs > 0) await new Promise((resolve) => setTimeout(resolve, gapMs));
      const t = performance.now();
      await once();
      samples.push(performance.now() - t);
    }
    return samples;
  };
  try {
    return await Promise.race([loop(), hung]);
  } finally {
    clearTimeout(timer);
  }
}

const bytes = (b: Buffer): Buffer => b;
const floorService: grpc.ServiceDefinition = {
  Echo: {
    path: "/bench.Floor/Echo",
    requestStream: false,
    responseStream: false,
    requestSerialize: bytes,
    requestDeserialize: bytes,
    responseSerialize: bytes,
    responseDeserialize: bytes,
  },
  EchoStream: {
    path: "/bench.Floor/EchoStream",
    requestStream: true,
    responseStream: true,
    requestSerialize: bytes,
    requestDeserialize: bytes,
    responseSerialize: bytes,
    responseDeserialize: bytes,
  },
};
type FloorClient = grpc.Client & {
  Echo: Parameters<typeof callUnary<Buffer, Buffer>>[1];
  EchoStream(): grpc.ClientDuplexStream<Buffer, Buffer>;
};

/** Resolves the next time `emitter` reaches `count` bytes of data since the call; for echo loops. */
class EchoWaiter {
  private need = 0;
  private resolve: (() => void) | undefined;
  private reject: ((err: Error) => void) | undefined;

  received(length: number): void {
    this.need -= length;
    if (this.need <= 0 && this.resolve) {
      const done = this.resolve;
      this.resolve = this.reject = undefined;
      done();
    }
  }

  failed(err: Error): void {
    const fail = this.reject;
    this.resolve = this.reject = undefined;
    fail?.(err);
  }

  expect(length: number, send: () => void): Promise<void> {
    return new Promise((resolve, reject) => {
      this.need = length;
      this.resolve = resolve;
      this.reject = reject;
      send();
    });
  }
}

/** The ports of a floor peer process (floor_peer.ts): its bare HTTP server and its gRPC echo server. */
export type FloorPeer = { readonly httpPort: number; readonly grpcPort: number };

const wokenPrimitives: ReadonlySet<FloorPrimitive> = new Set(["httpWoken", "grpcStreamWoken", "fdatasyncWoken"]);

/** Every floor server and its client, started once, measured as often as asked. */
export class FloorRig {
  private readonly dataDir: string;
  private readonly closers: (() => void)[];
  private readonly trips: Record<Exclude<FloorPrimitive, "fdatasync" | "fdatasyncWoken">, () => Promise<unknown>>;

  private constructor(dataDir: string, trips: FloorRig["trips"], closers: (() => void)[]) {
    this.dataDir = dataDir;
    this.trips = trips;
    this.closers = closers;
  }

  /** The in-process servers start here; the woken round trips go to `peer`, another process. */
  static async start(dataDir: string, peer: FloorPeer): Promise<FloorRig> {
    const closers: (() => void)[] = [];
    try {
      const tcp = await startTcp(closers);
      const http1 = await startHttp(closers);
      const h2 = await startHttp2(closers);
      const [unary, stream] = await startGrpc(closers);
      const httpWoken = httpTrip(peer.httpPort, closers);
      const [, grpcStreamWoken] = grpcTrips(peer.grpcPort, closers);
      const trips = { tcp, http: http1, http2: h2, grpcUnary: unary, grpcStream: stream, httpWoken, grpcStreamWoken };
      return new FloorRig(dataDir, trips, closers);
    } catch (err) {
      for (const close of closers.reverse()) close();
      throw err;
    }
  }

  /** Samples (ms) of one primitive. */
  measure(primitive: FloorPrimitive, bound: SampleBound): Promise<number[]> {
    const gapMs = wokenPrimitives.has(primitive) ? wokenGapMs : 0;
    if (primitive === "fdatasync" || primitive === "fdatasyncWoken") return appendFdatasyncSamples(this.dataDir, bound, gapMs);
    return sampleLoop(primitive, bound, this.trips[primitive], gapMs);
  }

  /** Synchronous: also called from signal and exit handlers. */
  close(): void {
    for (const close of this.closers.splice(0).reverse()) close();
  }
}

/** Listens on an ephemeral port of 127.0.0.1; resolves with the port. */
export function listening(server: net.Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve((server.address() as net.AddressInfo).port));
  });
}

function connected(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: "127.0.0.1", noDelay: true }, () => resolve(socket));
    socket.once("error", reject);
  });
}

async function startTcp(closers: (() => void)[]): Promise<() => Promise<void>> {
  const server = net.createServer((socket) => {
    socket.setNoDelay(true);
    socket.on("data", (d) => socket.write(d));
    socket.on("error", () => socket.destroy());
  });
  closers.push(() => server.close());
  const socket = await connected(await listening(server));
  closers.push(() => socket.destroy());
  const waiter = new EchoWaiter();
  socket.on("data", (d: Buffer) => waiter.received(d.length));
  socket.on("error", (err) => waiter.failed(err));
  socket.on("close", () => waiter.failed(new Error("floor: the TCP echo connection closed")));
  const message = Buffer.alloc(messageBytes, 0x61);
  return () => waiter.expect(message.length, () => socket.write(message));
}

/** A bare node:http server answering every GET (the client asks for /stocks/GameStart) with a stock's JSON body. */
export function bareHttpServer(): http.Server {
  return http.createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      res.writeHead(200, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(stockBody) });
      res.end(stockBody);
    });
  });
}

async function startHttp(closers: (() => void)[]): Promise<() => Promise<unknown>> {
  const server = bareHttpServer();
  closers.push(() => server.close());
  const port = await listening(server);
  // The keep-alive connection must go before close() can finish; closeAllConnections ends the rest.
  closers.push(() => server.closeAllConnections());
  return httpTrip(port, closers);
}

/** A lookup round trip from the sessions' client to the bare server on `port`. */
function httpTrip(port: number, closers: (() => void)[]): () => Promise<unknown> {
  const client = sessionClient(port);
  closers.push(() => client.close());
  // The client rejects anything but a 200 with a stock in the API's shape.
  return () => client.lookup("GameStart");
}

async function startHttp2(closers: (() => void)[]): Promise<() => Promise<void>> {
  const server = http2.createServer();
  server.on("connection", (socket: net.Socket) => socket.setNoDelay(true));
  server.on("stream", (stream) => {
    stream.respond({ ":status": 200, "content-type": "application/json; charset=utf-8" });
    stream.end(stockBody);
  });
  closers.push(() => server.close());
  const port = await listening(server as unknown as net.Server);
  const session = http2.connect(`http://127.0.0.1:${port}`, {
    createConnection: () => net.connect({ port, host: "127.0.0.1", noDelay: true }),
  });
  closers.push(() => session.destroy());
  await new Promise<void>((resolve, reject) => {
    session.once("connect", () => resolve());
    session.once("error", reject);
  });
  // Later, a broken session fails the request in flight through its stream's close; an
  // 'error' with no listener would crash the whole benchmark instead.
  session.on("error", () => undefined);
  return () =>
    new Promise<void>((resolve, reject) => {
      const req = session.request({ ":path": "/stocks/GameStart", ":method": "GET" });
      req.setTimeout(floorCallTimeoutMs, () => req.close(http2.constants.NGHTTP2_CANCEL));
      req.on("data", () => undefined);
      req.on("end", resolve);
      req.on("error", reject);
      req.on("close", () => reject(new Error("floor: the http2 stream closed before its end")));
      req.end();
    });
}

/** The gRPC echo server (unary and stream), with the project's server options; not yet bound. */
export function floorGrpcServer(): grpc.Server {
  const server = new grpc.Server(serverOptions);
  server.addService(floorService, {
    Echo: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => callback(null, call.request),
    EchoStream: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
      call.on("data", (m: Buffer) => call.write(m));
      call.on("end", () => call.end());
      call.on("error", () => undefined);
    },
  });
  return server;
}

async function startGrpc(closers: (() => void)[]): Promise<[() => Promise<Buffer>, () => Promise<void>]> {
  const server = floorGrpcServer();
  closers.push(() => server.forceShutdown());
  return grpcTrips(await bindServer(server, "127.0.0.1", 0), closers);
}

/** A unary call and a stream round trip to the echo server on `port`, with the project's channel options. */
function grpcTrips(port: number, closers: (() => void)[]): [() => Promise<Buffer>, () => Promise<void>] {
  const Client = grpc.makeGenericClientConstructor(floorService, "Floor") as unknown as new (
    address: string,
    credentials: grpc.ChannelCredentials,
    options: grpc.ChannelOptions,
  ) => FloorClient;
  const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), channelOptions);
  closers.push(() => client.close());
  const message = Buffer.alloc(messageBytes, 0x62);
  const stream = client.EchoStream();
  closers.push(() => stream.cancel());
  const waiter = new EchoWaiter();
  stream.on("data", (m: Buffer) => waiter.received(m.length));
  stream.on("error", (err: Error) => waiter.failed(err));
  const unary = () => callUnary(client, client.Echo, message, floorCallTimeoutMs);
  const trip = () => waiter.expect(message.length, () => stream.write(message));
  return [unary, trip];
}
