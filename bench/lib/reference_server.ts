// The bare reference server the throughput benchmark compares against, run as its own process
// (so it never shares an event loop with the load generator). It answers the routes the
// benchmark uses with the exact JSON bytes the real frontend returned, doing no other work:
//   GET /stocks/<name> → the recorded stock body; POST /orders → the recorded order body
//   (after reading the request body); anything else → 404.
// BENCH_REFERENCE_MODE=node serves with node:http; =ours with the project's hand-written
// HTTP/1.1 server (frontend/http) and the same handler, which isolates the HTTP layer.
// BENCH_REFERENCE_BODIES is JSON {"stocks": {name: body}, "order": body}. It logs
// `listening port=<n>` so lib/service_process.ts can start it like a service.

import * as http from "node:http";
import { createHttpServer } from "../../frontend/http/server.ts";
import { jsonContentType } from "../../frontend/http/response.ts";
import { Logger } from "../../lib/log.ts";

export type ReferenceBodies = { readonly stocks: Readonly<Record<string, string>>; readonly order: string };

const notFoundBody = JSON.stringify({ error: { code: 404, message: "not found" } });
const stockPrefix = "/stocks/";

/** Status and body for a request line; shared by both modes so they do identical work. */
function answer(bodies: ReferenceBodies, method: string, path: string): [number, string] {
  if (method === "POST" && path === "/orders") return [200, bodies.order];
  if (method === "GET" && path.startsWith(stockPrefix)) {
    const body = bodies.stocks[decodeURIComponent(path.slice(stockPrefix.length))];
    if (body !== undefined) return [200, body];
  }
  return [404, notFoundBody];
}

function serveNode(bodies: ReferenceBodies): Promise<number> {
  const server = http.createServer((req, res) => {
    // Read the whole request body first, as the real frontend must before it can answer.
    req.resume();
    req.on("end", () => {
      const [status, body] = answer(bodies, req.method ?? "GET", req.url ?? "/");
      res.writeHead(status, { "content-type": jsonContentType, "content-length": Buffer.byteLength(body) });
      res.end(body);
    });
  });
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => resolve((server.address() as { port: number }).port));
  });
}

function serveOurs(bodies: ReferenceBodies): Promise<number> {
  const server = createHttpServer({
    log: new Logger("reference", {}, "warn"),
    handler: (req) => {
      const [status, body] = answer(bodies, req.method, req.path);
      return { status, headers: { "content-type": jsonContentType }, body };
    },
  });
  return server.listen(0, "127.0.0.1");
}

const mode = process.env["BENCH_REFERENCE_MODE"];
const bodies = JSON.parse(process.env["BENCH_REFERENCE_BODIES"] ?? "null") as ReferenceBodies | null;
if ((mode !== "node" && mode !== "ours") || bodies === null) {
  process.stderr.write("reference server: BENCH_REFERENCE_MODE must be node or ours, and BENCH_REFERENCE_BODIES set\n");
  process.exit(2);
}
const port = mode === "node" ? await serveNode(bodies) : await serveOurs(bodies);
// startService waits for this record (lib/log.ts listeningPort).
new Logger("reference", { mode }).listening("listening", { port });
