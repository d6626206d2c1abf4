// catalog.csv: the checkpoint of the whole stock table, `name,price,quantity,volume,version`
// with one row per stock. It is only ever replaced whole by writeFileAtomic (temp file, fsync,
// rename, fsync dir), so a crash leaves the old checkpoint or the new one, never a mix. Every
// row is validated before it is written and again after it is read back.

import * as fsp from "node:fs/promises";
import { assert } from "../lib/assert.ts";
import { parseIntStrict } from "../lib/config.ts";
import { writeFileAtomic } from "../lib/durable_file.ts";
import { CorruptFileError } from "./errors.ts";
import { initialQuantity, initialStocks } from "./initial_stocks.ts";
import { stocksMax } from "./limits.ts";
import type { StockState } from "./trade.ts";
import { stockStateProblem } from "./trade.ts";

export const catalogFileName = "catalog.csv";
export const catalogHeader = "name,price,quantity,volume,version";

export type StockTable = Map<string, StockState>;

/** The table a fresh DATA_DIR starts with. */
export function initialTable(): StockTable {
  const table: StockTable = new Map();
  for (const stock of initialStocks) {
    table.set(stock.name, { price: stock.price, quantity: initialQuantity, volume: 0, version: 0 });
  }
  return table;
}

export function formatCatalog(table: ReadonlyMap<string, StockState>): string {
  assert(table.size > 0 && table.size <= stocksMax, "a catalog holds 1..stocksMax stocks");
  let text = `${catalogHeader}\n`;
  for (const [name, state] of table) {
    const problem = stockStateProblem(name, state);
    assert(problem === undefined, `writing a valid stock: ${problem}`);
    text += `${name},${state.price},${state.quantity},${state.volume},${state.version}\n`;
  }
  return text;
}

/** Parse catalog.csv; every problem is a CorruptFileError naming the line. */
export function parseCatalog(text: string): StockTable {
  const lines = text.split("\n");
  const last = lines.pop();
  if (last !== "") throw new CorruptFileError(catalogFileName, lines.length + 1, "file does not end with a newline");
  if (lines[0] !== catalogHeader) throw new CorruptFileError(catalogFileName, 1, `header is not "${catalogHeader}"`);
  if (lines.length - 1 > stocksMax) throw new CorruptFileError(catalogFileName, stocksMax + 2, `more than ${stocksMax} stocks`);
  const table: StockTable = new Map();
  for (let i = 1; i < lines.length; i++) {
    const [name, state] = parseCatalogRow(lines[i] as string, i + 1);
    if (table.has(name)) throw new CorruptFileError(catalogFileName, i + 1, `stock "${name}" appears twice`);
    table.set(name, state);
  }
  if (table.size === 0) throw new CorruptFileError(catalogFileName, 2, "no stocks");
  return table;
}

function parseCatalogRow(line: string, lineNumber: number): [string, StockState] {
  const fields = line.split(",");
  const corrupt = (message: string): CorruptFileError => new CorruptFileError(catalogFileName, lineNumber, message);
  if (fields.length !== 5) throw corrupt(`expected 5 fields, found ${fields.length}`);
  const [name, priceText, quantityText, volumeText, versionText] = fields as [string, string, string, string, string];
  if (!/^\d+(\.\d+)?$/.test(priceText)) throw corrupt(`price "${priceText}" is not a decimal number`);
  const quantity = parseIntStrict(quantityText);
  const volume = parseIntStrict(volumeText);
  const version = parseIntStrict(versionText);
  if (quantity === undefined) throw corrupt(`quantity "${quantityText}" is not an integer`);
  if (volume === undefined) throw corrupt(`volume "${volumeText}" is not an integer`);
  if (version === undefined) throw corrupt(`version "${versionText}" is not an integer`);
  const state: StockState = { price: Number(priceText), quantity, volume, version };
  const problem = stockStateProblem(name, state);
  if (problem !== undefined) throw corrupt(problem);
  return [name, state];
}

/** Read catalog.csv; undefined when there is none yet (a fresh DATA_DIR). */
export async function readCatalog(file: string): Promise<StockTable | undefined> {
  let text: string;
  try {
    text = await fsp.readFile(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
  return parseCatalog(text);
}

export async function writeCatalog(file: string, table: ReadonlyMap<string, StockState>): Promise<void> {
  await writeFileAtomic(file, formatCatalog(table));
}
