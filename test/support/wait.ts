// Polling with a bound, for tests that wait on asynchronous state in another process or task.

import { sleep } from "../../lib/sleep.ts";

/** How often `waitFor` checks again, unless the caller asks for a finer poll. */
const waitForPollMs = 10;

/** Polls `check` until true or fails after `timeoutMs`; keeps async event assertions bounded. */
export async function waitFor(
  check: () => boolean | Promise<boolean>,
  timeoutMs = 5_000,
  what = "condition",
  pollMs = waitForPollMs,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(pollMs);
  }
}
