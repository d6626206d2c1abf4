// A FIFO async mutex: serializes the read-decide-write sequences on the order log (an Append,
// a pulled page, a leader's batch commit), so no decision is made on a log another mutation is
// about to change. Holders must not take it again (no re-entry).

export class Mutex {
  private tail: Promise<void> = Promise.resolve();
  private held = 0;

  /** Run `fn` once every earlier holder is done; the result is `fn`'s. */
  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.tail.then(() => {
      this.held++;
      return fn().finally(() => {
        this.held--;
      });
    });
    this.tail = result.then(() => undefined, () => undefined);
    return result;
  }

  get locked(): boolean {
    return this.held > 0;
  }
}
