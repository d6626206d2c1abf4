// The request id over real gRPC: callUnary sends it as x-request-id, unaryHandler hands it to the
// server's toStatus (which logs it on error lines); a missing, overlong or non-printable id is
// not passed on.

import { test } from "uvu";
import * as assert from "uvu/assert";
import type { CatalogServer } from "../gen/catalog.ts";
import { CatalogClient, CatalogService } from "../gen/catalog.ts";
import {
  bindServer,
  callMetadata,
  callUnary,
  channelOptions,
  grpc,
  isServiceError,
  requestIdMetadataKey,
  requestIdOf,
  serverOptions,
  statusError,
  unaryHandler,
} from "./grpc.ts";
import { traceIdBytesMax as requestIdLogBytesMax } from "./protocol.ts";

/** Deadline of each call in these cases. */
const callTimeoutMs = 5_000;

test("a failing unary call: toStatus gets the caller's request id, and the caller gets the status", async () => {
  const seen: (string | undefined)[] = [];
  const handlers: Partial<CatalogServer> = {
    lookup: unaryHandler(() => Promise.reject(new Error("boom")), (_err, requestId) => {
      seen.push(requestId);
      return statusError(grpc.status.INTERNAL, "boom");
    }),
  };
  const server = new grpc.Server(serverOptions);
  server.addService(CatalogService, handlers as CatalogServer);
  const port = await bindServer(server, "127.0.0.1", 0);
  const client = new CatalogClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), channelOptions);
  try {
    for (const requestId of ["req-1", undefined, "x".repeat(requestIdLogBytesMax + 1)]) {
      const err = await callUnary(client, client.lookup, { name: "A" }, callTimeoutMs, { requestId }).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(isServiceError(err) && err.code === grpc.status.INTERNAL, String(err));
    }
    assert.equal(seen, ["req-1", undefined, undefined]);
  } finally {
    client.close();
    server.forceShutdown();
  }
});

test("requestIdOf: printable ASCII up to the bound; callMetadata sets it only when given", () => {
  const of = (value: string): string | undefined => requestIdOf(callMetadata({ requestId: value }));
  assert.is(of("a".repeat(requestIdLogBytesMax)), "a".repeat(requestIdLogBytesMax));
  assert.is(of("a".repeat(requestIdLogBytesMax + 1)), undefined);
  assert.is(of("has space"), undefined);
  assert.is(of(""), undefined);
  assert.equal(callMetadata({}).get(requestIdMetadataKey), []);
  assert.equal(callMetadata({ waitForReady: true }).getOptions().waitForReady, true);
});

test.run();
