// Every process a test, a benchmark or the chaos command starts goes through here, with one
// PID bookkeeping: services until they listen (lib/service_process.ts), redis-server until it is
// ready, and any command left to run (a service expected to exit, the client, `npm start`, the
// image's entry point, Deno). Each child is tracked from its spawn to its exit;
// killAll() — run on this process's exit too — SIGKILLs, by PID, every one still running, so
// none outlives a failed test. Systems of several services are built on this (local_system.ts).

import type { ChildProcess } from "node:child_process";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { listeningPort } from "../../lib/log.ts";
import { freePort, projectRoot, serviceStartTimeoutMs, startService } from "../../lib/service_process.ts";
import type { RunningService, ServiceSpec } from "../../lib/service_process.ts";

/** Every child started here and not yet exited. */
const running = new Set<ChildProcess>();
/** Directories removed when this process exits. */
const tempDirsToRemove: string[] = [];
let exitHandlerInstalled = false;

function track(child: ChildProcess): void {
  if (!exitHandlerInstalled) {
    exitHandlerInstalled = true;
    process.on("exit", () => {
      killAll();
      for (const dir of tempDirsToRemove) fs.rmSync(dir, { recursive: true, force: true });
    });
  }
  running.add(child);
  child.once("exit", () => running.delete(child));
}

/** SIGKILL, by PID, every child still running; synchronous, so an 'exit' handler can use it. */
export function killAll(): void {
  for (const child of running) {
    if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) continue;
    try {
      process.kill(child.pid, "SIGKILL");
    } catch {
      // Already gone.
    }
  }
}

/** Also on SIGINT and SIGTERM (an interrupted chaos run): kill every child, then exit 130. */
export function killAllOnSignals(): void {
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      killAll();
      process.exit(130);
    });
  }
}

/** TEST_SERVICE_LOGS=1 echoes every service's output to stderr, prefixed with its name. */
const echoServiceLogs = process.env["TEST_SERVICE_LOGS"] !== undefined;

/** A service started and tracked; resolves once it listens (lib/service_process.ts). */
export function startTracked(spec: ServiceSpec): Promise<RunningService> {
  const echo = echoServiceLogs && spec.onLine === undefined;
  return startService({
    ...spec,
    onSpawn: (child) => {
      track(child);
      spec.onSpawn?.(child);
    },
    ...(echo ? { onLine: (line: string) => process.stderr.write(`[${spec.name}] ${line}\n`) } : {}),
  });
}

/** A catalog on 127.0.0.1 (PORT=0 unless given), started and tracked. */
export function startCatalog(env: Record<string, string>): Promise<RunningService> {
  return startTracked({ name: "catalog", entry: "catalog/main.ts", env: { HOST: "127.0.0.1", PORT: "0", LOG_LEVEL: "info", ...env } });
}

/** SIGKILL a tracked service and wait until it is gone. */
export async function killAndWait(service: RunningService): Promise<void> {
  service.kill("SIGKILL");
  await service.exited;
}

export type Exit = { readonly code: number | null; readonly signal: NodeJS.Signals | null };

/** How a tracked service ended, as exit code or signal. */
export async function exitOf(service: RunningService): Promise<Exit> {
  const end = await service.exited;
  return typeof end === "number" ? { code: end, signal: null } : { code: null, signal: end as NodeJS.Signals };
}

export type Running = {
  readonly child: ChildProcess;
  /** stdout and stderr together, as written so far. */
  output(): string;
  /** stdout alone, as written so far. */
  stdout(): string;
  readonly exited: Promise<Exit>;
};

export type TrackedOptions = {
  /** SIGKILL after this long (default: never; the caller stops it, or killAll at exit does). */
  readonly timeoutMs?: number;
  /** Sees the whole output after every chunk. */
  readonly onOutput?: (output: string) => void;
  /** Open an IPC channel (child.send / "message"), for a child that reports measurements. */
  readonly ipc?: boolean;
};

/** Spawn `command args` in the project root with `env`, tracked, without waiting for anything. */
export function runTracked(command: string, args: readonly string[], env: NodeJS.ProcessEnv, options: TrackedOptions = {}): Running {
  const stdio: ("ignore" | "pipe" | "ipc")[] = options.ipc ? ["ignore", "pipe", "pipe", "ipc"] : ["ignore", "pipe", "pipe"];
  const child = spawn(command, [...args], { cwd: projectRoot, env, stdio });
  track(child);
  let output = "";
  let stdout = "";
  child.stdout?.on("data", (d: Buffer) => {
    stdout += d.toString();
  });
  const onData = (d: Buffer): void => {
    output += d.toString();
    options.onOutput?.(output);
  };
  child.stdout?.on("data", onData);
  child.stderr?.on("data", onData);
  const timeoutMs = options.timeoutMs;
  const timer = timeoutMs === undefined ? undefined : setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  const exited = new Promise<Exit>((resolve) =>
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal });
    })
  );
  return { child, output: () => output, stdout: () => stdout, exited };
}

export type RunOptions = {
  /** SIGKILL after this long. */
  readonly timeoutMs: number;
  /** Start from this process's environment (default), or from PATH and HOME only. */
  readonly inheritEnv?: boolean;
  /** Called once the service logs its listening line. */
  readonly onListening?: (pid: number) => void;
  /** Command-line arguments after the entry file. */
  readonly args?: readonly string[];
};

/**
 * Run an entry file (a service, the client) expected to stop by itself: bad configuration,
 * corrupt files, a signal sent on listening, a client run. `output` is stdout and stderr together.
 */
export async function runToExit(entry: string, env: Record<string, string>, options: RunOptions): Promise<Exit & { output: string }> {
  const base = options.inheritEnv === false ? { PATH: process.env["PATH"] ?? "", HOME: process.env["HOME"] ?? "" } : process.env;
  let announced = false;
  const onOutput = (output: string): void => {
    if (announced || !options.onListening || !output.split("\n").some((line) => listeningPort(line) !== undefined)) return;
    announced = true;
    options.onListening(run.child.pid as number);
  };
  const run = runTracked(process.execPath, ["--import", "tsx", entry, ...(options.args ?? [])], { ...base, ...env }, {
    timeoutMs: options.timeoutMs,
    onOutput,
  });
  const exit = await run.exited;
  return { ...exit, output: run.output() };
}

/** A program other than our services (redis-server), started and tracked. */
export type Program = {
  readonly child: ChildProcess;
  readonly port: number;
  /** Everything the process wrote so far, stdout and stderr together. */
  output(): string;
  /** SIGKILL by PID and wait for the exit. */
  kill(): Promise<void>;
};

/** Spawn `command` and wait until its output matches `ready`. */
function startProgram(command: string, args: string[], ready: RegExp, port: number): Promise<Program> {
  const child = spawn(command, args, { cwd: projectRoot, env: process.env, stdio: ["ignore", "pipe", "pipe"] });
  track(child);
  let output = "";
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const program: Program = {
    child,
    port,
    output: () => output,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await exited;
    },
  };
  child.stdout.on("data", (c: Buffer) => {
    output += c.toString();
  });
  child.stderr.on("data", (c: Buffer) => {
    output += c.toString();
  });
  return new Promise((resolve, reject) => {
    let settled = false;
    const settle = (why: string | undefined): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.stdout.off("data", check);
      child.stderr.off("data", check);
      if (why === undefined) return resolve(program);
      void program.kill();
      reject(new Error(`${command} ${args.join(" ")} ${why}:\n${output}`));
    };
    const timer = setTimeout(() => settle(`did not become ready in ${serviceStartTimeoutMs} ms`), serviceStartTimeoutMs);
    const check = (): void => {
      if (ready.test(output)) settle(undefined);
    };
    child.stdout.on("data", check);
    child.stderr.on("data", check);
    child.once("exit", (code, signal) => settle(`exited (${code ?? signal}) before it was ready`));
    child.once("error", (err) => settle(`could not start (${err.message})`));
  });
}

/** A throwaway redis-server: no persistence, loopback only. Pass `port` to restart on the same one. */
export async function startRedis(port?: number): Promise<Program> {
  const chosen = port ?? await freePort();
  return startProgram(
    "redis-server",
    [
      "--port",
      String(chosen),
      "--bind",
      "127.0.0.1",
      "--save",
      "",
      "--appendonly",
      "no",
    ],
    /Ready to accept connections/,
    chosen,
  );
}

/** A fresh directory `sb-<prefix>-…` under the OS temp dir; kept unless `removeAtExit`. */
export function tempDir(prefix: string, removeAtExit = false): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `sb-${prefix}-`));
  if (removeAtExit) tempDirsToRemove.push(dir);
  return dir;
}
