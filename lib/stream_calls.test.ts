// lib/stream_calls.ts over real gRPC on 127.0.0.1: answers reach their own callers in any
// order, failures keep their status, deadlines, a server that goes away, the in-flight bound,
// and a graceful shutdown that answers what is in flight before ending the stream.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { bindServer, grpc, isServiceError, shutdownServer } from "./grpc.ts";
import { StreamCaller, StreamCallServer, streamCallsInFlightMax } from "./stream_calls.ts";
import type { CallMessage, ResultMessage } from "./stream_calls.ts";
import { sleep } from "./sleep.ts";

type Req = { n: number; delayMs?: number; fail?: boolean; hang?: boolean };
type Res = { doubled: number };

const json = {
  serialize: (value: unknown): Buffer => Buffer.from(JSON.stringify(value)),
  deserialize: (bytes: Buffer): unknown => JSON.parse(bytes.toString("utf8")),
};
const definition = {
  calls: {
    path: "/test.Echo/Calls",
    requestStream: true,
    responseStream: true,
    requestSerialize: json.serialize,
    requestDeserialize: json.deserialize,
    responseSerialize: json.serialize,
    responseDeserialize: json.deserialize,
  },
} satisfies grpc.ServiceDefinition;
const Client = grpc.makeGenericClientConstructor(definition, "Echo");
type Duplex = grpc.ClientDuplexStream<CallMessage<Req>, ResultMessage<Res>>;

async function handle(request: Req): Promise<Res> {
  if (request.hang) return new Promise(() => undefined);
  if (request.delayMs) await sleep(request.delayMs);
  if (request.fail) throw Object.assign(new Error("odd"), { status: grpc.status.FAILED_PRECONDITION });
  return { doubled: request.n * 2 };
}

function toStatus(err: unknown): { code: grpc.status; details: string } {
  const e = err as Error & { status?: grpc.status };
  return { code: e.status ?? grpc.status.INTERNAL, details: e.message };
}

type Harness = {
  server: grpc.Server;
  streams: StreamCallServer;
  port: number;
  caller: StreamCaller<Req, Res>;
  client: grpc.Client;
  close(): Promise<void>;
};

async function start(port = 0, handler = handle): Promise<{ server: grpc.Server; streams: StreamCallServer; port: number }> {
  const server = new grpc.Server();
  const streams = new StreamCallServer();
  server.addService(definition, { calls: streams.handler(handler, toStatus) } as unknown as grpc.UntypedServiceImplementation);
  return { server, streams, port: await bindServer(server, "127.0.0.1", port) };
}

async function harness(handler = handle): Promise<Harness> {
  const { server, streams, port } = await start(0, handler);
  const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
    "grpc.initial_reconnect_backoff_ms": 50,
    "grpc.max_reconnect_backoff_ms": 200,
  });
  const open = (): Duplex => (client as unknown as { calls(): Duplex }).calls();
  const caller = new StreamCaller<Req, Res>(open);
  return {
    server,
    streams,
    port,
    caller,
    client,
    async close() {
      caller.close();
      client.close();
      server.forceShutdown();
    },
  };
}

async function failure(p: Promise<unknown>): Promise<grpc.ServiceError> {
  try {
    await p;
  } catch (err) {
    assert.ok(isServiceError(err), `a ServiceError, got ${String(err)}`);
    return err;
  }
  throw new Error("expected the call to fail");
}

test("answers reach their own callers, in whatever order they come, on one stream", async () => {
  const h = await harness();
  try {
    const delays = [40, 0, 25, 5, 15, 0, 30, 10];
    const replies = await Promise.all(delays.map((delayMs, n) => h.caller.call({ n, delayMs }, 5_000)));
    assert.equal(replies.map((r) => r.doubled), delays.map((_, n) => n * 2));
    assert.is(h.caller.opened, 1);
  } finally {
    await h.close();
  }
});

test("a handler's failure arrives with its status; the stream stays usable", async () => {
  const h = await harness();
  try {
    const err = await failure(h.caller.call({ n: 1, fail: true }, 5_000));
    assert.is(err.code, grpc.status.FAILED_PRECONDITION);
    assert.is(err.details, "odd");
    assert.equal(await h.caller.call({ n: 2 }, 5_000), { doubled: 4 });
    assert.is(h.caller.opened, 1);
  } finally {
    await h.close();
  }
});

test("a call past its deadline fails DEADLINE_EXCEEDED; the stream is replaced", async () => {
  const h = await harness();
  try {
    const hung = h.caller.call({ n: 1, hang: true }, 150);
    const alongside = h.caller.call({ n: 2, delayMs: 1_000 }, 5_000);
    assert.is((await failure(hung)).code, grpc.status.DEADLINE_EXCEEDED);
    assert.is((await failure(alongside)).code, grpc.status.UNAVAILABLE, "the other call on the dropped stream");
    assert.equal(await h.caller.call({ n: 3 }, 5_000), { doubled: 6 });
    assert.is(h.caller.opened, 2);
  } finally {
    await h.close();
  }
});

test("a server that goes away fails the calls in flight; calls work again once it is back", async () => {
  const h = await harness();
  let second: { server: grpc.Server } | undefined;
  try {
    assert.equal(await h.caller.call({ n: 1 }, 5_000), { doubled: 2 });
    const pending = h.caller.call({ n: 2, hang: true }, 10_000);
    await sleep(50);
    h.server.forceShutdown();
    assert.is((await failure(pending)).code, grpc.status.UNAVAILABLE);
    second = await start(h.port);
    let reply: Res | undefined;
    const deadline = Date.now() + 5_000;
    while (reply === undefined) {
      try {
        reply = await h.caller.call({ n: 3 }, 1_000);
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await sleep(50);
      }
    }
    assert.equal(reply, { doubled: 6 });
  } finally {
    second?.server.forceShutdown();
    await h.close();
  }
});

test(`more than ${streamCallsInFlightMax} calls in flight on one stream: the extra ones are refused`, async () => {
  let release: () => void = () => undefined;
  const gate = new Promise<void>((r) => {
    release = r;
  });
  const h = await harness(async (request) => {
    await gate;
    return { doubled: request.n * 2 };
  });
  try {
    const calls = Array.from({ length: streamCallsInFlightMax + 3 }, (_, n) =>
      h.caller.call({ n }, 5_000).then(
        (r) => ({ ok: r.doubled }),
        (err: grpc.ServiceError) => ({ code: err.code }),
      ));
    // The extra calls are refused at once, while the first ones are still held by the gate.
    await Promise.all(calls.slice(streamCallsInFlightMax));
    release();
    const results = await Promise.all(calls);
    assert.equal(results.slice(0, streamCallsInFlightMax), Array.from({ length: streamCallsInFlightMax }, (_, n) => ({ ok: n * 2 })));
    assert.equal(results.slice(streamCallsInFlightMax), [3, 3, 3].map(() => ({ code: grpc.status.RESOURCE_EXHAUSTED })));
  } finally {
    await h.close();
  }
});

test("shutdown answers the calls in flight, refuses new ones and ends the stream, so the server stops at once", async () => {
  let arrived: () => void = () => undefined;
  const handlerEntered = new Promise<void>((r) => {
    arrived = r;
  });
  const h = await harness(async (request) => {
    if (request.delayMs) arrived();
    return handle(request);
  });
  try {
    assert.equal(await h.caller.call({ n: 1 }, 5_000), { doubled: 2 });
    const inFlight = h.caller.call({ n: 2, delayMs: 200 }, 5_000);
    await handlerEntered;
    const started = Date.now();
    const drained = shutdownServer(h.server);
    h.streams.closeAll();
    assert.equal(await inFlight, { doubled: 4 });
    await drained;
    assert.ok(Date.now() - started < 2_000, "the server did not wait out its drain timeout");
    assert.is(h.streams.size, 0);
    assert.is((await failure(h.caller.call({ n: 3 }, 1_000))).code, grpc.status.UNAVAILABLE);
  } finally {
    await h.close();
  }
});

test("a call without a request is refused as INVALID_ARGUMENT; a closed caller fails its calls", async () => {
  const h = await harness();
  try {
    assert.is((await failure(h.caller.call(undefined as unknown as Req, 5_000))).code, grpc.status.INVALID_ARGUMENT);
    const pending = h.caller.call({ n: 1, hang: true }, 5_000);
    h.caller.close();
    assert.is((await failure(pending)).code, grpc.status.CANCELLED);
    assert.is((await failure(h.caller.call({ n: 2 }, 5_000))).code, grpc.status.CANCELLED);
  } finally {
    await h.close();
  }
});

test("a peer without the RPC fails calls UNIMPLEMENTED; a closed channel fails them UNAVAILABLE", async () => {
  const server = new grpc.Server();
  const port = await bindServer(server, "127.0.0.1", 0);
  const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const caller = new StreamCaller<Req, Res>(() => (client as unknown as { calls(): Duplex }).calls());
  try {
    assert.is((await failure(caller.call({ n: 1 }, 5_000))).code, grpc.status.UNIMPLEMENTED);
    client.close();
    assert.is((await failure(caller.call({ n: 2 }, 5_000))).code, grpc.status.UNAVAILABLE);
  } finally {
    caller.close();
    client.close();
    server.forceShutdown();
  }
});

test.run();
