// The invalidation hub behind a real in-process gRPC server: pushes reach every subscriber,
// subscribers are bounded, a cancelled stream is forgotten, a subscriber that stops reading is
// cut off with RESOURCE_EXHAUSTED after everything queued before (never buffered without
// bound), and shutdown ends every stream with UNAVAILABLE.

import { test } from "uvu";
import * as assert from "uvu/assert";
import type { CatalogServer, Invalidation } from "../gen/catalog.ts";
import { CatalogClient, CatalogService } from "../gen/catalog.ts";
import { bindServer, channelOptions, grpc } from "../lib/grpc.ts";
import { Logger } from "../lib/log.ts";
import { InvalidationHub } from "./invalidations.ts";
import { waitFor } from "../test/support/wait.ts";

const log = new Logger("catalog-test", {}, "silent");

type Harness = { hub: InvalidationHub; client: CatalogClient; connect(): CatalogClient; close(): void };

async function start(options: { subscribersMax?: number; backlogMax?: number }): Promise<Harness> {
  const hub = new InvalidationHub(log, options);
  const server = new grpc.Server();
  const unused = (): never => {
    throw new Error("not used by this test");
  };
  const impl: CatalogServer = {
    lookup: unused,
    tradeBatch: unused,
    tradeBatches: unused,
    lookups: unused,
    health: unused,
    invalidations(call) {
      try {
        hub.subscribe(call);
      } catch (err) {
        call.emit("error", { code: grpc.status.RESOURCE_EXHAUSTED, details: (err as Error).message });
      }
    },
  };
  server.addService(CatalogService, impl);
  const port = await bindServer(server, "127.0.0.1", 0);
  const clients: CatalogClient[] = [];
  // A private subchannel pool gives each client its own HTTP/2 connection (and flow control).
  const connect = (): CatalogClient => {
    const client = new CatalogClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
      ...channelOptions,
      "grpc.use_local_subchannel_pool": 1,
    });
    clients.push(client);
    return client;
  };
  const client = connect();
  return {
    hub,
    client,
    connect,
    close: () => {
      for (const c of clients) c.close();
      server.forceShutdown();
    },
  };
}

type Subscription = {
  stream: grpc.ClientReadableStream<Invalidation>;
  seen: Invalidation[];
  ended: Promise<grpc.ServiceError | undefined>;
};

async function subscribe(client: CatalogClient, name: string): Promise<Subscription> {
  const stream = client.invalidations({ subscriber: name });
  const seen: Invalidation[] = [];
  stream.on("data", (inv: Invalidation) => seen.push(inv));
  const ended = new Promise<grpc.ServiceError | undefined>((resolve) => {
    stream.on("error", (err: grpc.ServiceError) => resolve(err));
    stream.on("end", () => resolve(undefined));
  });
  await new Promise((resolve, reject) => {
    stream.once("metadata", resolve);
    stream.once("error", reject);
  });
  return { stream, seen, ended };
}

test("every subscriber gets every push, in order", async () => {
  const h = await start({});
  try {
    const a = await subscribe(h.client, "a");
    const b = await subscribe(h.client, "b");
    assert.is(h.hub.size, 2);
    h.hub.publish([{ name: "GameStart", version: 1 }, { name: "FishCo", version: 4 }]);
    h.hub.publish([{ name: "GameStart", version: 2 }]);
    const want = [{ name: "GameStart", version: 1 }, { name: "FishCo", version: 4 }, { name: "GameStart", version: 2 }];
    await waitFor(() => a.seen.length === 3 && b.seen.length === 3, 5_000, "both to see 3 pushes");
    assert.equal(a.seen, want);
    assert.equal(b.seen, want);
  } finally {
    h.close();
  }
});

test("a cancelled stream is forgotten", async () => {
  const h = await start({});
  try {
    const a = await subscribe(h.client, "a");
    a.stream.cancel();
    await waitFor(() => h.hub.size === 0, 5_000, "the hub to forget it");
    h.hub.publish([{ name: "GameStart", version: 1 }]);
  } finally {
    h.close();
  }
});

test("subscribers are bounded: one past subscribersMax is refused", async () => {
  const h = await start({ subscribersMax: 2 });
  try {
    await subscribe(h.client, "a");
    await subscribe(h.client, "b");
    let refused: unknown;
    await subscribe(h.client, "c").catch((err: unknown) => {
      refused = err;
    });
    assert.is((refused as grpc.ServiceError | undefined)?.code, grpc.status.RESOURCE_EXHAUSTED);
    assert.is(h.hub.size, 2);
  } finally {
    h.close();
  }
});

test("a subscriber that stops reading is cut off after its backlog, and sees what came before", async () => {
  const h = await start({ backlogMax: 256 });
  try {
    const slow = await subscribe(h.client, "slow");
    const fast = await subscribe(h.connect(), "fast");
    slow.stream.pause();
    let version = 0;
    // Push bursts until the slow stream's flow-control window and then its backlog are full.
    // Each burst waits for the fast subscriber to read it, so only the slow one falls behind.
    while (h.hub.cut === 0 && version < 1_000_000) {
      for (let i = 0; i < 50; i++) h.hub.publish([{ name: "GameStart", version: ++version }]);
      await waitFor(() => fast.seen.length === version || h.hub.cut > 0, 5_000, "the fast subscriber to catch up", 1);
    }
    assert.is(h.hub.cut, 1, "the slow subscriber was cut");
    assert.is(h.hub.size, 1, "the fast one stays");
    const cutAt = version;
    h.hub.publish([{ name: "GameStart", version: ++version }]);
    await waitFor(() => fast.seen.length === version, 5_000, "the fast one to read everything");
    slow.stream.resume();
    const err = await slow.ended;
    assert.is(err?.code, grpc.status.RESOURCE_EXHAUSTED);
    // Cut within the last burst: it got every push up to the cut, in order, and no more.
    assert.ok(slow.seen.length > cutAt - 50 && slow.seen.length <= cutAt, `${slow.seen.length} of ${cutAt}`);
    assert.equal(slow.seen.map((inv) => inv.version), Array.from({ length: slow.seen.length }, (_, i) => i + 1));
  } finally {
    h.close();
  }
});

test("closeAll ends every stream with UNAVAILABLE and refuses new subscribers", async () => {
  const h = await start({});
  try {
    const a = await subscribe(h.client, "a");
    h.hub.closeAll();
    assert.is((await a.ended)?.code, grpc.status.UNAVAILABLE);
    let refused: unknown;
    await subscribe(h.client, "late").catch((err: unknown) => {
      refused = err;
    });
    assert.ok(refused, "a subscriber after closeAll is refused");
  } finally {
    h.close();
  }
});

test.run();
