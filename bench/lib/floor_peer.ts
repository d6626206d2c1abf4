// The other end of the floor's woken round trips (floor.ts): a bare node:http server and the
// gRPC echo server, in a process of their own, so that each round trip to them wakes a process
// that was idle, as every hop of a one-session trade does. It logs `listening` with the HTTP
// `port` and the `grpcPort` (lib/service_process.ts waits for the line) and runs until killed.

import { bindServer } from "../../lib/grpc.ts";
import { Logger } from "../../lib/log.ts";
import { bareHttpServer, floorGrpcServer, listening } from "./floor.ts";

const httpPort = await listening(bareHttpServer());
const grpcPort = await bindServer(floorGrpcServer(), "127.0.0.1", 0);
new Logger("floor-peer").listening("listening", { port: httpPort, grpcPort });
