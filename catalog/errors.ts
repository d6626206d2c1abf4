// The catalog's operating errors: one class per failure, each with a stable `code`. They are
// what callers and the world can cause; bugs are assertion failures instead. server.ts maps
// these to gRPC statuses in one function.

/** A request is malformed (empty or oversized name, batch too large). */
export class InvalidArgumentError extends Error {
  readonly code = "ERR_INVALID_ARGUMENT";
  constructor(message: string) {
    super(message);
    this.name = "InvalidArgumentError";
  }
}

/** A lookup names a stock the catalog does not hold. */
export class StockNotFoundError extends Error {
  readonly code = "ERR_STOCK_NOT_FOUND";
  readonly stock: string;
  constructor(stock: string) {
    super("stock not found");
    this.name = "StockNotFoundError";
    this.stock = stock;
  }
}

/** A bounded queue or set is full (trades waiting for the disk, subscribers); retry later. */
export class OverloadedError extends Error {
  readonly code = "ERR_OVERLOADED";
  constructor(message: string) {
    super(message);
    this.name = "OverloadedError";
  }
}

/** The store is shutting down and takes no new trades. */
export class StoreClosedError extends Error {
  readonly code = "ERR_STORE_CLOSED";
  constructor() {
    super("catalog is shutting down");
    this.name = "StoreClosedError";
  }
}

/**
 * Writing the journal or a checkpoint failed. The outcome of the trades in that commit is
 * unknown (their rows may be on disk), so the store takes no more trades: a restart reloads
 * the truth from disk and a retry with the same request_id learns what happened.
 */
export class StorageError extends Error {
  readonly code = "ERR_STORAGE";
  constructor(message: string, options?: { cause: unknown }) {
    super(message, options);
    this.name = "StorageError";
  }
}

/** A file in DATA_DIR does not parse or contradicts itself; the catalog refuses to start. */
export class CorruptFileError extends Error {
  readonly code = "ERR_CORRUPT_FILE";
  readonly file: string;
  readonly line: number;
  constructor(file: string, line: number, message: string) {
    super(`${file} line ${line}: ${message}`);
    this.name = "CorruptFileError";
    this.file = file;
    this.line = line;
  }
}
