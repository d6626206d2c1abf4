// Assertions for what can only be a bug. A failed assertion throws AssertionError, which no
// caller catches: the process crashes loudly instead of going on with a broken invariant.
// Operating errors (bad input, a peer down) are typed errors with a `code`, never asserts.

export class AssertionError extends Error {
  readonly code = "ERR_ASSERTION";
  constructor(message: string) {
    super(`assertion failed: ${message}`);
    this.name = "AssertionError";
  }
}

export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new AssertionError(message);
}

export function unreachable(value: never, what: string): never {
  throw new AssertionError(`unreachable ${what}: ${String(value)}`);
}
