// The report's Markdown and number formatting, shared by its sections (report.ts, latency_report.ts,
// targets.ts): tables, thousands separators, milliseconds with the digits that matter.

/** Integers with thousands separators: 12,345. */
export const n = (x: number): string => x.toLocaleString("en-US");

/** Milliseconds with about three significant digits: 0.043, 2.74, 14.2, 221. */
export const ms = (x: number): string => (x >= 100 ? String(Math.round(x)) : x.toFixed(x >= 10 ? 1 : x >= 1 ? 2 : 3));

/** A ratio as a factor with two decimals: 1.53×; "–" when nothing was measured (0). */
export const times = (x: number): string => (x > 0 ? `${x.toFixed(2)}×` : "–");

export function table(headers: readonly string[], rows: readonly (readonly (string | number)[])[]): string[] {
  return [`| ${headers.join(" | ")} |`, `|${headers.map(() => "---").join("|")}|`, ...rows.map((r) => `| ${r.join(" | ")} |`)];
}
