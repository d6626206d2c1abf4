// Reads the W3C `Server-Timing` response header (https://www.w3.org/TR/server-timing/): a
// comma-separated list of metrics, each `name` with optional `;dur=<ms>` and `;desc=<token or
// "quoted string">` parameters, and sums up many responses as the median of each phase. Knows
// no phase names: whatever the server sends is what the report shows.

import { median } from "./context.ts";

export type ServerTimingMetric = { readonly name: string; readonly durMs: number | undefined; readonly desc: string | undefined };

/** A metric name is an RFC 9110 token. */
const tokenPattern = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** `text` cut at each `separator` that is outside a quoted string (backslash escapes honoured). */
function splitOutsideQuotes(text: string, separator: string): string[] {
  const parts: string[] = [];
  let start = 0;
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted && c === "\\") i++;
    else if (c === '"') quoted = !quoted;
    else if (!quoted && c === separator) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  return parts;
}

/** A parameter value: a token as it is, a quoted string without its quotes and escapes. */
function unquote(value: string): string {
  if (!value.startsWith('"')) return value;
  const end = value.endsWith('"') && value.length > 1 ? value.length - 1 : value.length;
  return value.slice(1, end).replace(/\\(.)/g, "$1");
}

/**
 * The metrics of one header value (several headers joined by commas, as node:http joins
 * them). A metric whose name is not a token is skipped; of a repeated parameter the first
 * counts, as the standard says; a `dur` that is not a number is left out.
 */
export function parseServerTiming(header: string): ServerTimingMetric[] {
  const metrics: ServerTimingMetric[] = [];
  for (const entry of splitOutsideQuotes(header, ",")) {
    const [first = "", ...params] = splitOutsideQuotes(entry, ";");
    const name = first.trim();
    if (!tokenPattern.test(name)) continue;
    let durMs: number | undefined;
    let desc: string | undefined;
    let durSeen = false;
    for (const param of params) {
      const eq = param.indexOf("=");
      const key = (eq < 0 ? param : param.slice(0, eq)).trim().toLowerCase();
      const value = eq < 0 ? "" : unquote(param.slice(eq + 1).trim());
      if (key === "dur" && !durSeen) {
        durSeen = true;
        const n = Number(value);
        if (value !== "" && Number.isFinite(n)) durMs = n;
      } else if (key === "desc" && desc === undefined) {
        desc = value;
      }
    }
    metrics.push({ name, durMs, desc });
  }
  return metrics;
}

export type PhaseSummary = {
  readonly name: string;
  /** The description the first response gave this phase, if any. */
  readonly desc: string | undefined;
  readonly medianMs: number;
  /** Responses that carried this phase with a duration. */
  readonly count: number;
};

export type ServerTimingSummary = {
  readonly responses: number;
  /** Responses that carried a Server-Timing header at all. */
  readonly withHeader: number;
  /** In the order the phases first appeared. */
  readonly phases: PhaseSummary[];
};

/** Collects the Server-Timing headers of many responses of one kind. */
export class ServerTimingCollector {
  private responses = 0;
  private withHeader = 0;
  private readonly phases = new Map<string, { desc: string | undefined; durations: number[] }>();

  add(header: string | undefined): void {
    this.responses++;
    if (header === undefined || header.trim() === "") return;
    this.withHeader++;
    for (const m of parseServerTiming(header)) {
      if (m.durMs === undefined) continue;
      const phase = this.phases.get(m.name) ?? { desc: m.desc, durations: [] };
      phase.durations.push(m.durMs);
      this.phases.set(m.name, phase);
    }
  }

  /** Another collector's responses added to this one's. */
  merge(other: ServerTimingCollector): void {
    this.responses += other.responses;
    this.withHeader += other.withHeader;
    for (const [name, theirs] of other.phases) {
      const phase = this.phases.get(name) ?? { desc: theirs.desc, durations: [] };
      phase.durations.push(...theirs.durations);
      this.phases.set(name, phase);
    }
  }

  summary(): ServerTimingSummary {
    return {
      responses: this.responses,
      withHeader: this.withHeader,
      phases: [...this.phases].map(([name, p]) => ({
        name,
        desc: p.desc,
        medianMs: Math.round(median(p.durations) * 1000) / 1000,
        count: p.durations.length,
      })),
    };
  }
}
