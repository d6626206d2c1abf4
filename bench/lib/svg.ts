// Hand-written SVG for the report's plots: a document, text, lines, axes with ticks and a
// legend. No plotting dependency; the output is plain SVG 1.1 with explicit sizes, a white
// background and system fonts, so it renders the same on GitHub and in a browser.

export type Scale = (value: number) => number;

export const palette = {
  blue: "#1f6feb",
  orange: "#e36209",
  green: "#2da44e",
  red: "#cf222e",
  purple: "#8250df",
  gray: "#8c959f",
  light: "#d0d7de",
  text: "#24292f",
} as const;

export function escapeXml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

const fmt = (x: number): string => String(Math.round(x * 10) / 10);

export function svgDocument(width: number, height: number, title: string, body: string[]): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ` +
    `font-family="-apple-system, 'Segoe UI', Helvetica, Arial, sans-serif" font-size="12" fill="${palette.text}">`,
    `<title>${escapeXml(title)}</title>`,
    `<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`,
    ...body,
    "</svg>",
    "",
  ].join("\n");
}

export type TextOptions = { anchor?: "start" | "middle" | "end"; size?: number; weight?: "bold"; color?: string; rotate?: number };

export function text(x: number, y: number, content: string, o: TextOptions = {}): string {
  const attrs = [`x="${fmt(x)}"`, `y="${fmt(y)}"`];
  if (o.anchor && o.anchor !== "start") attrs.push(`text-anchor="${o.anchor}"`);
  if (o.size) attrs.push(`font-size="${o.size}"`);
  if (o.weight) attrs.push(`font-weight="${o.weight}"`);
  if (o.color) attrs.push(`fill="${o.color}"`);
  if (o.rotate) attrs.push(`transform="rotate(${o.rotate} ${fmt(x)} ${fmt(y)})"`);
  return `<text ${attrs.join(" ")}>${escapeXml(content)}</text>`;
}

export type StrokeOptions = { color?: string; width?: number; dash?: string; opacity?: number };

function stroke(o: StrokeOptions): string {
  return `stroke="${o.color ?? palette.text}" stroke-width="${o.width ?? 1}"${o.dash ? ` stroke-dasharray="${o.dash}"` : ""}${
    o.opacity !== undefined ? ` stroke-opacity="${o.opacity}"` : ""
  }`;
}

export function line(x1: number, y1: number, x2: number, y2: number, o: StrokeOptions = {}): string {
  return `<line x1="${fmt(x1)}" y1="${fmt(y1)}" x2="${fmt(x2)}" y2="${fmt(y2)}" ${stroke(o)}/>`;
}

export function polyline(points: readonly (readonly [number, number])[], o: StrokeOptions = {}): string {
  return `<polyline fill="none" ${stroke(o)} points="${points.map(([x, y]) => `${fmt(x)},${fmt(y)}`).join(" ")}"/>`;
}

export function rect(x: number, y: number, w: number, h: number, fill: string, o: { stroke?: string; opacity?: number } = {}): string {
  return `<rect x="${fmt(x)}" y="${fmt(y)}" width="${fmt(Math.max(0, w))}" height="${fmt(Math.max(0, h))}" fill="${fill}"` +
    `${o.stroke ? ` stroke="${o.stroke}"` : ""}${o.opacity !== undefined ? ` fill-opacity="${o.opacity}"` : ""}/>`;
}

export function circle(x: number, y: number, r: number, fill: string): string {
  return `<circle cx="${fmt(x)}" cy="${fmt(y)}" r="${r}" fill="${fill}"/>`;
}

export function linear(domain: readonly [number, number], range: readonly [number, number]): Scale {
  const [d0, d1] = domain;
  const [r0, r1] = range;
  const span = d1 - d0 || 1;
  return (v) => r0 + ((v - d0) / span) * (r1 - r0);
}

/** About `count` round tick values covering [min, max] (steps of 1, 2 or 5 times a power of ten). */
export function niceTicks(min: number, max: number, count = 5): number[] {
  if (!(max > min)) return [min];
  const raw = (max - min) / Math.max(1, count);
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 5, 10].find((m) => m * power >= raw) ?? 10) * power;
  // Counting in whole steps and rounding to the step's decimals keeps labels like 0.6, not 0.6000000000000001.
  const decimals = Math.max(0, -Math.floor(Math.log10(step)));
  const ticks: number[] = [];
  for (let k = Math.ceil(min / step); k * step <= max + step * 1e-9; k++) ticks.push(Number((k * step).toFixed(decimals)));
  return ticks;
}

/** The upper end of a value axis: the data's maximum rounded up to the next tick. */
export function niceMax(max: number, count = 5): number {
  if (!(max > 0)) return 1;
  const ticks = niceTicks(0, max, count);
  const last = ticks[ticks.length - 1] ?? max;
  const step = ticks.length > 1 ? (ticks[1] as number) - (ticks[0] as number) : max;
  return last >= max ? last : last + step;
}

export type Box = { readonly left: number; readonly top: number; readonly width: number; readonly height: number };

export type AxesOptions = {
  readonly box: Box;
  readonly x: Scale;
  readonly y: Scale;
  readonly xTicks: readonly number[];
  readonly yTicks: readonly number[];
  readonly xLabel: string;
  readonly yLabel: string;
  readonly xFormat?: (v: number) => string;
  readonly yFormat?: (v: number) => string;
};

/** Frame, horizontal grid lines, ticks with labels and the two axis titles. */
export function axes(o: AxesOptions): string[] {
  const { box } = o;
  const bottom = box.top + box.height;
  const right = box.left + box.width;
  const out: string[] = [];
  for (const t of o.yTicks) {
    const y = o.y(t);
    out.push(line(box.left, y, right, y, { color: palette.light }));
    out.push(text(box.left - 6, y + 4, (o.yFormat ?? String)(t), { anchor: "end", size: 11 }));
  }
  for (const t of o.xTicks) {
    const x = o.x(t);
    out.push(line(x, bottom, x, bottom + 4));
    out.push(text(x, bottom + 16, (o.xFormat ?? String)(t), { anchor: "middle", size: 11 }));
  }
  out.push(line(box.left, box.top, box.left, bottom), line(box.left, bottom, right, bottom));
  out.push(text(box.left + box.width / 2, bottom + 34, o.xLabel, { anchor: "middle" }));
  out.push(text(box.left - 44, box.top + box.height / 2, o.yLabel, { anchor: "middle", rotate: -90 }));
  return out;
}

export type LegendItem = { readonly label: string; readonly color: string; readonly dash?: string; readonly box?: boolean };

/** One row of legend entries starting at (x, y); returns the elements. */
export function legend(x: number, y: number, items: readonly LegendItem[]): string[] {
  const out: string[] = [];
  let at = x;
  for (const item of items) {
    if (item.box) out.push(rect(at, y - 9, 18, 10, item.color));
    else out.push(line(at, y - 4, at + 18, y - 4, { color: item.color, width: 2, ...(item.dash ? { dash: item.dash } : {}) }));
    out.push(text(at + 24, y, item.label, { size: 11 }));
    at += 34 + item.label.length * 6.2;
  }
  return out;
}
