// The Server-Timing response header (W3C Server Timing): named phases of one request, each with
// an optional description and a duration in milliseconds, e.g.
// `cache;desc="hit";dur=0.012, catalog;dur=0.150, total;dur=0.201`. Formatting only.

export type TimingEntry = {
  /** A token (RFC 9110 §5.6.2). */
  readonly name: string;
  /** A short word for a quoted string: no quote or backslash. */
  readonly desc?: string;
  readonly durMs?: number;
};

/** Microsecond resolution: finer is noise, coarser hides a cache hit. */
const durResolution = 1000;

export function serverTiming(entries: readonly TimingEntry[]): string {
  let text = "";
  for (const entry of entries) {
    if (text !== "") text += ", ";
    text += entry.name;
    if (entry.desc !== undefined) text += `;desc="${entry.desc}"`;
    // Rounded, then printed as the shortest decimal: cheaper than toFixed, and never exponent
    // notation for a non-negative multiple of 0.001.
    if (entry.durMs !== undefined) text += `;dur=${Math.round(Math.max(0, entry.durMs) * durResolution) / durResolution}`;
  }
  return text;
}
