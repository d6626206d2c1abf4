// Starting what the benchmarks measure, always owned by a Scope: a Stock Bazaar back end
// (catalog and order replicas, real processes on free 127.0.0.1 ports, via test/support's
// LocalSystem), frontends with any environment in front of it, and the bare reference server.
// Also CPU-time probes by PID, so results can show CPU per request next to wall-clock rates.

import * as fs from "node:fs";
import type { RunningService } from "../../lib/service_process.ts";
import { LocalSystem } from "../../test/support/local_system.ts";
import { startTracked } from "../../test/support/processes.ts";
import { frontendHealth, waitForCacheInUse } from "../../test/support/http.ts";
import type { ReferenceBodies } from "./reference_server.ts";
import type { FloorPeer } from "./floor.ts";
import { parseLogLine } from "../../lib/log.ts";
import type { Scope } from "./scope.ts";

/** Clock ticks per second in /proc/<pid>/stat; 100 on every Linux configuration we run on. */
const procTicksPerSecond = 100;

/** A catalog and order replicas without a frontend; the Scope stops them and removes their data. */
export async function startBackend(scope: Scope, replicaIds: readonly number[] = [1, 2, 3]): Promise<LocalSystem> {
  const cluster = await LocalSystem.start({ replicaIds, noFrontend: true });
  return ownSystem(scope, cluster);
}

/** A whole system (frontend included) as the tests start it, for experiments that kill parts of it. */
export async function startSystem(scope: Scope, frontendEnv: Record<string, string> = {}): Promise<LocalSystem> {
  const cluster = await LocalSystem.start({ frontendEnv });
  return ownSystem(scope, cluster);
}

function ownSystem(scope: Scope, cluster: LocalSystem): LocalSystem {
  scope.own({
    name: `system in ${cluster.dataDir}`,
    // LocalSystem.stop() sends every SIGKILL synchronously before it awaits the exits.
    killNow: () => void cluster.stop(),
    close: async () => {
      await cluster.stop();
      await fs.promises.rm(cluster.dataDir, { recursive: true, force: true });
    },
  });
  return cluster;
}

export type FrontendOptions = {
  readonly name: string;
  readonly env?: Record<string, string>;
  readonly onLine?: (line: string) => void;
};

/** A frontend process on a free port in front of `cluster`'s catalog and replicas. */
export async function startFrontend(scope: Scope, cluster: LocalSystem, options: FrontendOptions): Promise<RunningService> {
  // Logs at info (the default here): the frontend announces its port in an info line, and logs
  // nothing per request at info.
  const service = await cluster.startExtraFrontend(options.name, { HOST: "127.0.0.1", ...options.env }, options.onLine);
  scope.ownService(service);
  // Measurements and the cache timeline start with the cache in use.
  await waitForCacheInUse(`http://127.0.0.1:${service.port}`);
  return service;
}

export type ReferenceMode = "node" | "ours";

/** The bare reference server (bench/lib/reference_server.ts) in its own process. */
export async function startReference(scope: Scope, mode: ReferenceMode, bodies: ReferenceBodies): Promise<RunningService> {
  const service = await startTracked({
    name: `reference-${mode}`,
    entry: "bench/lib/reference_server.ts",
    env: { BENCH_REFERENCE_MODE: mode, BENCH_REFERENCE_BODIES: JSON.stringify(bodies), LOG_LEVEL: "warn" },
  });
  return scope.ownService(service);
}

/** The floor's peer process (lib/floor_peer.ts), owned by `scope`: the far end of the woken round trips. */
export async function startFloorPeer(scope: Scope): Promise<FloorPeer> {
  let grpcPort: number | undefined;
  const service = await startTracked({
    name: "floor-peer",
    entry: "bench/lib/floor_peer.ts",
    env: {},
    // The peer's one line with a grpcPort is its listening line.
    onLine: (line) => {
      const port = parseLogLine(line)?.["grpcPort"];
      if (typeof port === "number") grpcPort = port;
    },
  });
  scope.ownService(service);
  if (grpcPort === undefined) throw new Error(`floor peer: its listening line names no grpcPort:\n${service.output()}`);
  return { httpPort: service.port, grpcPort };
}

/** CPU seconds (user + system) a process has used so far; undefined where /proc is missing. */
export function cpuSeconds(pid: number): number | undefined {
  try {
    // Fields after the command name, which is in parentheses and may contain spaces.
    const fields = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
    const ticks = Number(fields[11]) + Number(fields[12]);
    return Number.isFinite(ticks) ? ticks / procTicksPerSecond : undefined;
  } catch {
    return undefined;
  }
}

/** Summed CPU seconds of several processes; undefined if any cannot be read. */
export function cpuSecondsOf(pids: readonly number[]): number | undefined {
  let total = 0;
  for (const pid of pids) {
    const s = cpuSeconds(pid);
    if (s === undefined) return undefined;
    total += s;
  }
  return total;
}

/** Every process of a back end plus its frontend, for CPU accounting. */
export function systemPids(cluster: LocalSystem, frontend: RunningService): number[] {
  const pids = [frontend.pid];
  if (cluster.catalog) pids.push(cluster.catalog.pid);
  for (const replica of cluster.replicas.values()) pids.push(replica.pid);
  return pids;
}

/** The frontend's /health body (`data`, or `error.details` when it reports 503). */
export async function health(port: number): Promise<HealthBody> {
  const data = await frontendHealth<HealthBody>(`http://127.0.0.1:${port}`);
  if (data === undefined) throw new Error(`GET /health on port ${port}: neither data nor error details`);
  return data;
}

export type CacheStatsBody = {
  backend: string;
  size: number;
  capacity: number;
  hits: number;
  misses: number;
  evictions: number;
  keys: string[];
};
export type HealthBody = {
  leader: number | null;
  epoch: number;
  replicas: { id: number; up: boolean; ready: boolean; lastNumber: number }[];
  cache: CacheStatsBody;
};
