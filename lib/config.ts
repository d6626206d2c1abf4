// Reading configuration from environment variables. Each reader validates one variable and
// throws ConfigError naming it; `runMain` turns that into one clear line and exit code 2, so
// a wrong setting stops a service at start instead of surfacing later. The rules (README
// "Configuration"): an empty value means unset; a value of spaces only, a number that is not a
// whole number or is out of its range, a port above 65535, a name not in the list (an
// Object.prototype key such as "toString" included) are refused.

import * as fs from "node:fs";
import * as path from "node:path";

export class ConfigError extends Error {
  readonly code = "ERR_CONFIG";
  readonly variable: string;
  constructor(variable: string, message: string) {
    super(`${variable} ${message}`);
    this.name = "ConfigError";
    this.variable = variable;
  }
}

/**
 * Bind a listener (`bind`) on `port` of `host`; when that fails (in use, no such address) the
 * failure is a ConfigError naming `variable`, so the service stops with one clear line.
 */
export async function bindFor<T>(variable: string, port: number, host: string, bind: () => Promise<T>): Promise<T> {
  try {
    return await bind();
  } catch (err) {
    throw new ConfigError(variable, `${port} cannot be bound on HOST ${host}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

export type Env = Readonly<Record<string, string | undefined>>;

export const portMax = 65535;

/**
 * The variable's value without surrounding spaces; undefined when unset or empty (`VAR=` and
 * compose's `${VAR:-}` mean "use the default"). Spaces only is a mistake, not a choice: refused.
 */
function raw(env: Env, name: string): string | undefined {
  const value = Object.hasOwn(env, name) ? env[name] : undefined;
  if (value === undefined || value === "") return undefined;
  const trimmed = value.trim();
  if (trimmed === "") throw new ConfigError(name, "is set to spaces only (leave it empty or unset for the default)");
  return trimmed;
}

export function envString(env: Env, name: string, fallback: string): string {
  return raw(env, name) ?? fallback;
}

export function envRequired(env: Env, name: string): string {
  const value = raw(env, name);
  if (value === undefined) throw new ConfigError(name, "is required but not set");
  return value;
}

export function parseIntStrict(text: string): number | undefined {
  if (!/^-?\d+$/.test(text)) return undefined;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : undefined;
}

export function envInt(env: Env, name: string, fallback: number, min: number, max: number): number {
  const text = raw(env, name);
  if (text === undefined) return fallback;
  const n = parseIntStrict(text);
  if (n === undefined || n < min || n > max) {
    throw new ConfigError(name, `must be an integer from ${min} to ${max} (got "${text}")`);
  }
  return n;
}

/** A port to listen on; 0 asks the system for a free one (the service logs the port it got). */
export function envPort(env: Env, name: string, fallback: number): number {
  return envInt(env, name, fallback, 0, portMax);
}

/** A port for something off by default (METRICS_PORT): undefined when unset. */
export function envOptionalPort(env: Env, name: string): number | undefined {
  return raw(env, name) === undefined ? undefined : envPort(env, name, 0);
}

/** One of `choices` (own keys only: "toString" or "constructor" is not a choice of any list). */
export function envChoice<T extends string>(env: Env, name: string, choices: readonly T[], fallback: T): T {
  const text = raw(env, name);
  if (text === undefined) return fallback;
  const choice = choices.find((c) => c === text);
  if (choice === undefined) throw new ConfigError(name, `must be one of ${choices.join(", ")} (got "${text}")`);
  return choice;
}

/** The levels LOG_LEVEL accepts, quietest last; lib/log.ts writes the first four. */
export const logLevels = ["debug", "info", "warn", "error", "silent"] as const;
export type LogLevel = (typeof logLevels)[number];

/** LOG_LEVEL (default info). Lives here, not in lib/log.ts, so reading configuration never loads the logger. */
export function envLogLevel(env: Env): LogLevel {
  return envChoice(env, "LOG_LEVEL", logLevels, "info");
}

export type HostPort = { readonly host: string; readonly port: number };

export function parseHostPort(text: string): HostPort | undefined {
  const match = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(text);
  if (!match) return undefined;
  const port = Number(match[2]);
  if (port < 1 || port > portMax) return undefined;
  return { host: match[1] as string, port };
}

export function formatHostPort(addr: HostPort): string {
  return `${addr.host}:${addr.port}`;
}

export function envHostPort(env: Env, name: string, fallback: string): HostPort {
  const text = raw(env, name) ?? fallback;
  const addr = parseHostPort(text);
  if (!addr) throw new ConfigError(name, `must be host:port (got "${text}")`);
  return addr;
}

export type Replica = { readonly id: number; readonly addr: HostPort };

export const replicaIdMax = 1000;
export const defaultOrderReplicas = "1@127.0.0.1:50061,2@127.0.0.1:50062,3@127.0.0.1:50063";

/** `ORDER_REPLICAS=3@host:port,2@host:port,...`, returned highest id first. */
export function envReplicas(env: Env, name: string): Replica[] {
  const text = raw(env, name) ?? defaultOrderReplicas;
  const replicas: Replica[] = [];
  for (const part of text.split(",")) {
    const match = /^(\d+)@(.+)$/.exec(part.trim());
    const id = match ? parseIntStrict(match[1] as string) : undefined;
    const addr = match ? parseHostPort(match[2] as string) : undefined;
    if (id === undefined || id < 1 || id > replicaIdMax || !addr) {
      throw new ConfigError(name, `must be a comma-separated list of id@host:port with ids 1..${replicaIdMax} (bad entry "${part}")`);
    }
    if (replicas.some((r) => r.id === id)) throw new ConfigError(name, `lists replica id ${id} twice`);
    replicas.push({ id, addr });
  }
  return replicas.sort((a, b) => b.id - a.id);
}

export const defaultDataDir = "./data";

/** DATA_DIR as an absolute path; it may not exist yet, but if it exists it must be a folder. */
export function envDataDir(env: Env): string {
  const dir = path.resolve(envString(env, "DATA_DIR", defaultDataDir));
  if (fs.existsSync(dir) && !fs.statSync(dir).isDirectory()) {
    throw new ConfigError("DATA_DIR", `must be a directory (got "${dir}", which is not)`);
  }
  return dir;
}

/** Loopback: a service is reachable from other machines only when HOST says so (0.0.0.0 in a container). */
export const hostDefault = "127.0.0.1";
export const catalogAddrDefault = "127.0.0.1:50051";

export function envHost(env: Env): string {
  const host = envString(env, "HOST", hostDefault);
  if (!/^[A-Za-z0-9.:-]+$/.test(host)) throw new ConfigError("HOST", `must be a host name or address (got "${host}")`);
  return host;
}

/**
 * Run a service's main: configuration errors print one line naming the variable and exit 2;
 * anything else is a crash with its stack.
 */
export function runMain(service: string, main: () => Promise<void>): void {
  main().catch((err: unknown) => {
    if (err instanceof ConfigError) {
      process.stderr.write(`${service}: configuration error: ${err.message}\n`);
      process.exit(2);
    }
    process.stderr.write(`${service}: fatal: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}
