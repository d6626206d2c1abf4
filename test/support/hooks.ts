// uvu swallows an error thrown by a `before` hook: the suite just reports (0 / N) with no reason.
// Hooks wrapped in `reported` print the error first, so a failed setup says why in the test output.

/** The hook, printing its error (with stack) to stderr before rethrowing it. */
export function reported<T extends unknown[]>(name: string, hook: (...args: T) => unknown): (...args: T) => Promise<void> {
  return async (...args: T) => {
    try {
      await hook(...args);
    } catch (err) {
      process.stderr.write(`[setup] ${name} failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
      throw err;
    }
  };
}
