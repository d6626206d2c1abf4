// catalog.csv: the checkpoint of the whole stock table and of the trade numbering. Line 1 is
// `last_number,<n>`: the number of the last trade the table includes (-1: none), which must
// survive even a journal compacted to nothing. Then `name,price,quantity,volume,version` and
// one row per stock. The file is only ever replaced whole by writeFileAtomic (temp file, fsync,
// rename, fsync dir), so a crash leaves the old checkpoint or the new one, never a mix. Every
// row is validated before it is written and again after it is read back. A file in the format
// of an older version (no last_number line) is refused, not migrated.

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
const lastNumberKey = "last_number";

export type StockTable = Map<string, StockState>;

/** What catalog.csv holds: the table, including every trade numbered up to lastNumber. */
export type Checkpoint = { readonly stocks: StockTable; readonly lastNumber: number };

/** The table a fresh DATA_DIR starts with. */
export function initialTable(): StockTable {
  const table: StockTable = new Map();
  for (const stock of initialStocks) {
    table.set(stock.name, { price: stock.price, quantity: initialQuantity, volume: 0, version: 0 });
  }
  return table;
}

export function formatCatalog(table: ReadonlyMap<string, StockState>, lastNumber: number): string {
  assert(table.size > 0 && table.size <= stocksMax, "a catalog holds 1..stocksMax stocks");
  assert(Number.isSafeInteger(lastNumber) && lastNumber >= -1, "last_number is -1 or more");
  let text = `${lastNumberKey},${lastNumber}\n${catalogHeader}\n`;
  for (const [name, state] of table) {
    const problem = stockStateProblem(name, state);
    assert(problem === undefined, `writing a valid stock: ${problem}`);
    text += `${name},${state.price},${state.quantity},${state.volume},${state.version}\n`;
  }
  return text;
}

/** The first line: `last_number,<n>`. */
function parseLastNumber(line: string | undefined): number {
  const corrupt = (message: string): CorruptFileError => new CorruptFileError(catalogFileName, 1, message);
  if (line === catalogHeader) {
    throw corrupt(
      "the format is from an older version of the catalog (no last_number line), which this version does not read; move the old DATA_DIR aside to start afresh",
    );
  }
  const [key, value, ...rest] = (line ?? "").split(",");
  if (key !== lastNumberKey || value === undefined || rest.length > 0) throw corrupt(`expected "${lastNumberKey},<number>"`);
  const lastNumber = parseIntStrict(value);
  if (lastNumber === undefined || lastNumber < -1) throw corrupt(`${lastNumberKey} "${value}" is not an integer of -1 or more`);
  return lastNumber;
}

/** Parse catalog.csv; every problem is a CorruptFileError naming the line. */
export function parseCatalog(text: string): Checkpoint {
  const lines = text.split("\n");
  const last = lines.pop();
  if (last !== "") throw new CorruptFileError(catalogFileName, lines.length + 1, "file does not end with a newline");
  const lastNumber = parseLastNumber(lines[0]);
  if (lines[1] !== catalogHeader) throw new CorruptFileError(catalogFileName, 2, `header is not "${catalogHeader}"`);
  const firstRow = 2;
  if (lines.length - firstRow > stocksMax) {
    throw new CorruptFileError(catalogFileName, firstRow + stocksMax + 1, `more than ${stocksMax} stocks`);
  }
  const stocks: StockTable = new Map();
  for (let i = firstRow; i < lines.length; i++) {
    const [name, state] = parseCatalogRow(lines[i] as string, i + 1);
    if (stocks.has(name)) throw new CorruptFileError(catalogFileName, i + 1, `stock "${name}" appears twice`);
    stocks.set(name, state);
  }
  if (stocks.size === 0) throw new CorruptFileError(catalogFileName, firstRow + 1, "no stocks");
  return { stocks, lastNumber };
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
export async function readCatalog(file: string): Promise<Checkpoint | undefined> {
  let text: string;
  try {
    text = await fsp.readFile(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
  return parseCatalog(text);
}

export async function writeCatalog(file: string, table: ReadonlyMap<string, StockState>, lastNumber: number): Promise<void> {
  await writeFileAtomic(file, formatCatalog(table, lastNumber));
}
