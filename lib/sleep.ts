// The one pause of the project: a promise that resolves after `ms` milliseconds. For backoff
// between retries and for test-only delays; never a substitute for waiting on an event.

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
