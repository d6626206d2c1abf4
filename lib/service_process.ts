// Starting and stopping the services as child processes: used by `npm start`, the
// multi-process tests and the benchmarks. A service is up when it logs its `listening` line with
// a `port` field (lib/log.ts listeningPort); the port it reports is the one it bound (PORT=0 works).

import { spawn } from "node:child_process";
import * as fs from "node:fs";
import type { ChildProcess } from "node:child_process";
import * as net from "node:net";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { listeningPort } from "./log.ts";

export const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
/** How long a service may take from spawn to its `listening` line. */
export const serviceStartTimeoutMs = 20_000;
/** How long a stopping service may take after SIGTERM before it gets SIGKILL. */
export const serviceStopTimeoutMs = 10_000;

export type Runtime = "node" | "deno";

export type ServiceSpec = {
  readonly name: string;
  /** Entry file relative to the project root, e.g. "catalog/main.ts". */
  readonly entry: string;
  readonly env: Readonly<Record<string, string>>;
  readonly runtime?: Runtime;
  /** Receives every output line of the child (default: dropped). */
  readonly onLine?: (line: string) => void;
  /** Called with the child as soon as it is spawned, before it listens (for PID bookkeeping). */
  readonly onSpawn?: (child: ChildProcess) => void;
};

export type RunningService = {
  readonly name: string;
  readonly pid: number;
  readonly port: number;
  readonly child: ChildProcess;
  /** Resolves with the exit code (or signal name) when the process ends. */
  readonly exited: Promise<number | string>;
  /** Output so far, for failure messages. */
  output(): string;
  kill(signal?: NodeJS.Signals): void;
  /** SIGTERM, then SIGKILL after serviceStopTimeoutMs; resolves with the exit code. */
  stop(): Promise<number | string>;
};

/**
 * The Deno binary of the `deno` dev dependency. The platform package `@deno/<os>-<arch>[-glibc]`
 * holds the native binary; `node_modules/.bin/deno` is a Node wrapper when npm skipped the
 * package's install script, and a wrapper would not pass our signals on to Deno.
 */
export function denoBinary(): string {
  const libc = process.platform === "linux" ? "-glibc" : "";
  const name = process.platform === "win32" ? "deno.exe" : "deno";
  const candidates = [
    path.join(projectRoot, "node_modules", "@deno", `${process.platform}-${process.arch}${libc}`, name),
    path.join(projectRoot, "node_modules", "deno", name),
  ];
  return candidates.find((file) => fs.existsSync(file)) ?? path.join(projectRoot, "node_modules", ".bin", "deno");
}

/**
 * The permissions each entry needs under Deno (the README's `deno run` lines): the services
 * need the network, the environment and the host name (pino reads it when it loads), the catalog
 * and the replicas also read and write their DATA_DIR; the client needs the network only.
 * Anything else gets -A.
 */
export function denoPermissions(entry: string, env: Readonly<Record<string, string | undefined>>): string[] {
  const base = ["--allow-env", "--allow-net", "--allow-sys=hostname"];
  if (entry === "catalog/main.ts" || entry === "order/main.ts") {
    const dataDir = env["DATA_DIR"] || "./data";
    return [...base, `--allow-read=${dataDir}`, `--allow-write=${dataDir}`];
  }
  if (entry === "frontend/main.ts") return base;
  if (entry === "client/run.ts") return ["--allow-net"];
  return ["-A"];
}

function command(runtime: Runtime, entry: string, env: Readonly<Record<string, string | undefined>>): [string, string[]] {
  if (runtime === "deno") return [denoBinary(), ["run", "--quiet", "--no-prompt", ...denoPermissions(entry, env), entry]];
  return [process.execPath, ["--import", "tsx", entry]];
}

export function startService(spec: ServiceSpec): Promise<RunningService> {
  const env = { ...process.env, ...spec.env, ...(spec.runtime === "deno" ? { DENO_NO_UPDATE_CHECK: "1" } : {}) };
  const [cmd, args] = command(spec.runtime ?? "node", spec.entry, env);
  const child = spawn(cmd, args, {
    cwd: projectRoot,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  spec.onSpawn?.(child);
  let output = "";
  let partial = "";
  const exited = new Promise<number | string>((resolve) => {
    child.on("exit", (code, signal) => resolve(code ?? signal ?? "unknown"));
  });
  return new Promise((resolve, reject) => {
    let started = false;
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${spec.name} did not start within ${serviceStartTimeoutMs} ms:\n${output}`));
    }, serviceStartTimeoutMs);
    const onData = (data: Buffer): void => {
      const text = partial + data.toString("utf8");
      const lines = text.split("\n");
      partial = lines.pop() ?? "";
      for (const line of lines) {
        output += `${line}\n`;
        spec.onLine?.(line);
        const port = started ? undefined : listeningPort(line);
        if (port !== undefined) {
          started = true;
          clearTimeout(timer);
          resolve(running(spec.name, child, port, exited, () => output));
        }
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    void exited.then((code) => {
      if (started) return;
      clearTimeout(timer);
      reject(new Error(`${spec.name} exited (${code}) before listening:\n${output}${partial}`));
    });
  });
}

function running(name: string, child: ChildProcess, port: number, exited: Promise<number | string>, output: () => string): RunningService {
  const pid = child.pid as number;
  const kill = (signal: NodeJS.Signals = "SIGKILL"): void => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  };
  return {
    name,
    pid,
    port,
    child,
    exited,
    output,
    kill,
    stop: async () => {
      kill("SIGTERM");
      const timer = setTimeout(() => kill("SIGKILL"), serviceStopTimeoutMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/**
 * Ports freePort hands out: below the kernel's ephemeral range (Linux 32768–60999, macOS from
 * 49152), where outgoing connections take their local ports. A port picked there could be taken
 * by some client's connection before the service binds it, or while a killed service is down
 * and must bind it again; down here only a listener can take it.
 */
export const freePortFirst = 20_000;
export const freePortLast = 32_000;
/** Random picks tried before giving up (each is checked by binding it). */
const freePortAttemptsMax = 100;
/** Ports this process already handed out: a cluster's services never get the same one. */
const handedOut = new Set<number>();

/** A port that was free on 127.0.0.1 a moment ago, for a service the caller is about to start. */
export async function freePort(first = freePortFirst, last = freePortLast): Promise<number> {
  for (let attempt = 0; attempt < freePortAttemptsMax; attempt++) {
    const port = first + Math.floor(Math.random() * (last - first + 1));
    if (handedOut.has(port) || !(await canListen(port))) continue;
    handedOut.add(port);
    return port;
  }
  throw new Error(`no free port in ${first}-${last} after ${freePortAttemptsMax} tries`);
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.unref();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}
