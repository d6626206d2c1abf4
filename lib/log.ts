// Structured logs: one JSON object per line on stdout (time, level, service, the logger's context
// such as replica id, role and epoch, the call's fields, msg), written by pino; when stdout is a
// terminal the same records are shown as readable one-liners instead. The level comes from
// LOG_LEVEL. Lines that can repeat many times a second go through `limited`, which keeps at most
// one per interval and says in the next one how many it left out.

import { pino } from "pino";
import type { LogLevel } from "./config.ts";
import { envLogLevel } from "./config.ts";

// The level belongs to the configuration (lib/config.ts), so a config reader never loads pino:
// the health probe bundles the config readers and nothing else. Re-exported for the logger's users.
export { envLogLevel };
export type { LogLevel };

export type LogValue = string | number | boolean | null | undefined;
export type LogFields = Record<string, LogValue>;

/** Where finished lines go (each ends with "\n"); tests pass their own to read them. */
export type LogDestination = { write(line: string): void };

/** The levels a line can be written at (LOG_LEVEL also accepts "silent"). */
export type LineLevel = "debug" | "info" | "warn" | "error";

/** The keys every line has; a call's field with one of these names is written as `field.<name>`. */
const reservedKeys: ReadonlySet<string> = new Set(["time", "level", "service", "msg"]);

/**
 * Default interval of `limited`: a repeating warning shows up about once a second, so a problem
 * stays visible in a tail of the log without flooding it.
 */
export const repeatIntervalMsDefault = 1_000;
/**
 * Distinct messages the rate limiter tracks. Keys are the messages written at the call sites, a
 * few dozen at most; the bound only keeps a caller that puts changing text in a message from
 * growing the map without end (the oldest key is forgotten first).
 */
export const repeatKeysMax = 1_000;

type Repeat = { lastMs: number; suppressed: number };

/** The output a logger shares with its children: pino (level, format, destination), the limiter, the clock. */
class LogOutput {
  readonly pino: pino.Logger;
  readonly repeats = new Map<string, Repeat>();
  readonly now: () => number;

  constructor(service: string, level: LogLevel, destination: LogDestination, now: () => number) {
    this.now = now;
    this.pino = pino(
      {
        level,
        // No pid and hostname: a container or `npm start` names the process; the service does.
        base: { service },
        timestamp: pino.stdTimeFunctions.isoTime,
        formatters: { level: (label) => ({ level: label }) },
      },
      destination,
    );
  }

  /** True when a line of `key` may be written now; otherwise counts it as suppressed. */
  admit(key: string, intervalMs: number): { admitted: boolean; suppressed: number } {
    const nowMs = this.now();
    const seen = this.repeats.get(key);
    if (seen !== undefined && nowMs - seen.lastMs < intervalMs) {
      seen.suppressed++;
      return { admitted: false, suppressed: seen.suppressed };
    }
    const suppressed = seen?.suppressed ?? 0;
    this.repeats.delete(key);
    if (this.repeats.size >= repeatKeysMax) this.repeats.delete(this.repeats.keys().next().value as string);
    this.repeats.set(key, { lastMs: nowMs, suppressed: 0 });
    return { admitted: true, suppressed };
  }
}

export type LoggerOptions = {
  /** Default: stdout, as JSON lines, or readable lines when stdout is a terminal. */
  readonly destination?: LogDestination;
  /** The rate limiter's clock (tests pass their own). */
  readonly now?: () => number;
  /** Share this logger's output (level, destination, rate limits) instead of opening one; child() uses it. */
  readonly from?: Logger;
};

export class Logger {
  readonly service: string;
  private context: LogFields;
  private readonly output: LogOutput;

  /** `level` defaults to LOG_LEVEL of the process environment (a bad value throws ConfigError). */
  constructor(service: string, context: LogFields = {}, level?: LogLevel, options: LoggerOptions = {}) {
    this.service = service;
    this.context = { ...context };
    this.output = options.from?.output ??
      new LogOutput(service, level ?? envLogLevel(process.env), options.destination ?? stdoutDestination(), options.now ?? Date.now);
  }

  /** Update the context every later line carries (a new role or epoch). */
  set(fields: LogFields): void {
    this.context = { ...this.context, ...fields };
  }

  /** A logger whose lines also carry `fields` (a request id); it shares this one's output and limits. */
  child(fields: LogFields): Logger {
    return new Logger(this.service, { ...this.context, ...fields }, undefined, { from: this });
  }

  debug(msg: string, fields?: LogFields): void {
    this.write("debug", msg, fields);
  }
  info(msg: string, fields?: LogFields): void {
    this.write("info", msg, fields);
  }
  warn(msg: string, fields?: LogFields): void {
    this.write("warn", msg, fields);
  }
  error(msg: string, fields?: LogFields): void {
    this.write("error", msg, fields);
  }

  /**
   * For a line that can repeat many times a second (a retry loop, a reconnect): at most one line
   * per `intervalMs` for the same message; the next line written carries `suppressed`, the number
   * left out since the previous one. A count still pending when the repeats stop is not written.
   */
  limited(level: LineLevel, msg: string, fields?: LogFields, intervalMs: number = repeatIntervalMsDefault): void {
    // No level check first: a subclass that records lines (a test's) sees them through this[level].
    const { admitted, suppressed } = this.output.admit(msg, intervalMs);
    if (!admitted) return;
    this[level](msg, suppressed > 0 ? { ...fields, suppressed } : fields);
  }

  /**
   * The line that says a service is up, with the `port` it bound: written at info whatever
   * LOG_LEVEL says (even `silent`), because `npm start`, the tests and orchestrators wait for it
   * (listeningPort). `msg` must start with "listening".
   */
  listening(msg: string, fields: LogFields & { readonly port: number }): void {
    if (!msg.startsWith("listening")) throw new TypeError(`a listening line starts with "listening", not "${msg}"`);
    const out = this.output.pino;
    this.emit(out.isLevelEnabled("info") ? out : out.child({}, { level: "info" }), "info", msg, fields);
  }

  private write(level: LineLevel, msg: string, fields: LogFields | undefined): void {
    const out = this.output.pino;
    if (!out.isLevelEnabled(level)) return;
    this.emit(out, level, msg, fields);
  }

  private emit(out: pino.Logger, level: LineLevel, msg: string, fields: LogFields | undefined): void {
    const record: Record<string, LogValue> = {};
    for (const source of [this.context, fields]) {
      if (source === undefined) continue;
      for (const [key, value] of Object.entries(source)) record[reservedKeys.has(key) ? `field.${key}` : key] = value;
    }
    out[level](record, msg);
  }
}

/** Stdout, looked up at each write (so a test that replaces process.stdout.write sees the lines). */
function stdoutDestination(): LogDestination {
  if (process.stdout.isTTY) return { write: (line) => process.stdout.write(`${formatReadable(parseLogLine(line) ?? {})}\n`) };
  return { write: (line) => process.stdout.write(line) };
}

/** One JSON log line as written by Logger; undefined for any other text. */
export function parseLogLine(line: string): Record<string, unknown> | undefined {
  if (!line.startsWith("{")) return undefined;
  try {
    const value: unknown = JSON.parse(line);
    return typeof value === "object" && value !== null && !Array.isArray(value) ? value as Record<string, unknown> : undefined;
  } catch {
    return undefined;
  }
}

function formatValue(value: unknown): string {
  const text = typeof value === "string" ? value : JSON.stringify(value);
  return /^[\w.:@/+-]+$/.test(text) ? text : JSON.stringify(text);
}

/** `12:00:00.123 WARN  frontend msg key=value ...`: a record as a person reads it on a terminal. */
export function formatReadable(record: Record<string, unknown>): string {
  const { time, level, service, msg, ...fields } = record;
  const clock = typeof time === "string" ? time.slice(11, 23) : "";
  let line = `${clock} ${String(level ?? "").toUpperCase().padEnd(5)} ${String(service ?? "")} ${String(msg ?? "")}`;
  for (const [key, value] of Object.entries(fields)) line += ` ${key}=${formatValue(value)}`;
  return line;
}

/** The port of a service's `listening` line (lib/service_process.ts waits for it), else undefined. */
export function listeningPort(line: string): number | undefined {
  const record = parseLogLine(line);
  const msg = record?.["msg"];
  const port = record?.["port"];
  return typeof msg === "string" && msg.startsWith("listening") && typeof port === "number" ? port : undefined;
}
