// One structured log line per event, to stderr, as `time level service key=value ... msg`.
// Every line carries the service name and the logger's context fields (replica id, role,
// epoch); `set()` updates the context when a role changes. The level comes from LOG_LEVEL.

import { ConfigError } from "./config.ts";

const levels = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 } as const;
export type LogLevel = keyof typeof levels;

export type LogFields = Record<string, string | number | boolean | null | undefined>;

/** LOG_LEVEL from an environment; a wrong value is a ConfigError naming the variable. */
export function envLogLevel(env: Readonly<Record<string, string | undefined>>): LogLevel {
  return parseLevel(env["LOG_LEVEL"]?.trim());
}

function parseLevel(raw: string | undefined): LogLevel {
  if (raw === undefined || raw === "") return "info";
  if (raw in levels) return raw as LogLevel;
  throw new ConfigError("LOG_LEVEL", `must be one of ${Object.keys(levels).join(", ")} (got "${raw}")`);
}

function formatValue(value: string | number | boolean | null | undefined): string {
  const text = String(value);
  return /^[\w.:@/+-]*$/.test(text) && text !== "" ? text : JSON.stringify(text);
}

export class Logger {
  readonly service: string;
  private context: LogFields;
  private readonly threshold: number;

  constructor(service: string, context: LogFields = {}, level: LogLevel = parseLevel(process.env["LOG_LEVEL"])) {
    this.service = service;
    this.context = { ...context };
    this.threshold = levels[level];
  }

  set(fields: LogFields): void {
    this.context = { ...this.context, ...fields };
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

  private write(level: LogLevel, msg: string, fields: LogFields | undefined): void {
    if (levels[level] < this.threshold) return;
    const all = { ...this.context, ...fields };
    let line = `${new Date().toISOString()} ${level} ${this.service}`;
    for (const [key, value] of Object.entries(all)) {
      if (value !== undefined) line += ` ${key}=${formatValue(value)}`;
    }
    process.stderr.write(`${line} ${msg}\n`);
  }
}
