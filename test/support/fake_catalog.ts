// An in-process stand-in for the catalog, over real gRPC, for the subscriber's and reader's
// unit tests: Lookup, unary and on the Lookups stream (optionally slow after reading the state,
// like CATALOG_LOOKUP_DELAY_MS),
// Invalidations (register, then send headers), and `trade()` for the test itself to change a
// stock (install, then push). The knobs let a test hold back pushes or confirmations and break
// streams; it keeps nothing on disk.

import type { ServerWritableStream } from "@grpc/grpc-js";
import type { CatalogServer, Invalidation, LookupRequest, Stock, SubscribeRequest } from "../../gen/catalog.ts";
import { CatalogService } from "../../gen/catalog.ts";
import { bindServer, grpc, serverOptions, statusError } from "../../lib/grpc.ts";
import { freePort } from "../../lib/service_process.ts";
import { StreamCallServer } from "../../lib/stream_calls.ts";

type Subscriber = ServerWritableStream<SubscribeRequest, Invalidation>;

export class FakeCatalog {
  readonly stocks = new Map<string, Stock>();
  private readonly subscribers = new Set<Subscriber>();
  private readonly streams = new StreamCallServer();
  private server: grpc.Server | undefined;
  port = 0;
  /** Wait this long after reading the state before answering a Lookup. */
  lookupDelayMs = 0;
  /** When false, trades are installed but not pushed (a late or lost push). */
  pushEnabled = true;
  /** When false, a new subscriber is registered but not confirmed (no response headers yet). */
  confirmEnabled = true;
  lookups = 0;

  constructor() {
    for (const name of ["GameStart", "FishCo", "BoarCo", "MenhirCo"]) {
      this.stocks.set(name, { name, price: 10, quantity: 100, volume: 0, version: 0 });
    }
  }

  /** On a port from freePort by default, so a restart can bind it again (see freePort). */
  async start(port?: number): Promise<number> {
    const server = new grpc.Server(serverOptions);
    server.addService(CatalogService, this.handlers());
    this.port = await bindServer(server, "127.0.0.1", port ?? await freePort());
    this.server = server;
    return this.port;
  }

  /** Like a SIGKILL as seen from the client: connections drop, streams fail. */
  stop(): void {
    this.server?.forceShutdown();
    this.server = undefined;
    this.subscribers.clear();
  }

  subscriberCount(): number {
    return this.subscribers.size;
  }

  /** End every open stream cleanly (status OK), keeping the server up. */
  endStreams(): void {
    for (const call of this.subscribers) call.end();
    this.subscribers.clear();
  }

  push(invalidation: Invalidation): void {
    for (const call of this.subscribers) call.write(invalidation);
  }

  trade(name: string, quantity: number): Stock {
    const stock = this.stocks.get(name);
    if (!stock) throw new Error(`no stock ${name}`);
    const next = { ...stock, quantity: stock.quantity - quantity, volume: stock.volume + quantity, version: stock.version + 1 };
    this.stocks.set(name, next);
    if (this.pushEnabled) this.push({ name, version: next.version });
    return next;
  }

  /** Reads the state now, answers lookupDelayMs later. */
  private lookup(name: string, callback: (error: Partial<grpc.StatusObject> | null, stock?: Stock) => void): void {
    this.lookups++;
    const stock = this.stocks.get(name);
    setTimeout(() => {
      if (stock) callback(null, stock);
      else callback(statusError(grpc.status.NOT_FOUND, "stock not found"));
    }, this.lookupDelayMs);
  }

  private handlers(): CatalogServer {
    return {
      lookup: (call, callback) => this.lookup(call.request.name, callback),
      tradeBatch: (_call, callback) => callback(statusError(grpc.status.UNIMPLEMENTED, "not in the fake")),
      tradeBatches: (call) => call.emit("error", statusError(grpc.status.UNIMPLEMENTED, "not in the fake")),
      lookups: this.streams.handler(
        (request: LookupRequest) =>
          new Promise<Stock>((resolve, reject) => {
            this.lookup(request.name, (error, stock) => error ? reject(error) : resolve(stock as Stock));
          }),
        (err) => err as Partial<grpc.StatusObject>,
      ),
      invalidations: (call) => {
        this.subscribers.add(call);
        call.on("cancelled", () => this.subscribers.delete(call));
        if (this.confirmEnabled) call.sendMetadata(new grpc.Metadata());
      },
      health: (_call, callback) =>
        callback(null, { stocks: this.stocks.size, subscribers: this.subscribers.size, tradesApplied: 0, lastNumber: -1, epoch: 0 }),
    };
  }
}
