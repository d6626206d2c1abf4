// The catalog's operating errors: one class per failure, each with a stable `code`. They are
// what callers and the world can cause; bugs are assertion failures instead. server.ts maps
// these to gRPC statuses in one function.

/** A request is malformed (empty or oversized name, batch too large, a bad batch header). */
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

/**
 * A TradeBatch from a leader epoch older than one the catalog has seen: a newer leader exists,
 * so the caller must step down. The newest epoch is durable, so this holds across restarts.
 */
export class StaleEpochError extends Error {
  readonly code = "ERR_STALE_EPOCH";
  constructor(message: string) {
    super(message);
    this.name = "StaleEpochError";
  }
}

/**
 * The leader's log holds numbers the catalog never gave: the catalog lost trades it had
 * numbered (its DATA_DIR was replaced or restored). Nothing can be applied safely; an operator
 * must reconcile the two.
 */
export class SequenceAheadError extends Error {
  readonly code = "ERR_SEQUENCE_AHEAD";
  constructor(message: string) {
    super(message);
    this.name = "SequenceAheadError";
  }
}

/** The leader lacks numbered trades that the catalog no longer keeps (see retainedTradesMax). */
export class ForgottenTradesError extends Error {
  readonly code = "ERR_FORGOTTEN_TRADES";
  constructor(message: string) {
    super(message);
    this.name = "ForgottenTradesError";
  }
}

/**
 * Applying the batch would leave more than uncommittedOrdersMax numbered trades after the
 * leader's commit point; the leader retries once its followers have caught up.
 */
export class UncommittedWindowError extends Error {
  readonly code = "ERR_UNCOMMITTED_WINDOW";
  constructor(message: string) {
    super(message);
    this.name = "UncommittedWindowError";
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
 * Writing the journal, the epoch or a checkpoint failed. The outcome of the trades in that
 * commit is unknown (their rows may be on disk), so the store takes no more trades: a restart
 * reloads the truth from disk, and the leader learns what was applied from the `missing`
 * trades of its next batch.
 */
export class StorageError extends Error {
  readonly code = "ERR_STORAGE";
  constructor(message: string, options?: { cause: unknown }) {
    super(message, options);
    this.name = "StorageError";
  }
}

/**
 * A file in DATA_DIR does not parse, contradicts itself or is in an older version's format
 * (there is no migration); the catalog refuses to start.
 */
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
