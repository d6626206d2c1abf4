// An assertion uvu lacks: that a promise rejects with an error of a given class.

import * as assert from "uvu/assert";

/** Resolves with the error once `promise` rejects with an instance of `type`; fails the test otherwise. */
export async function rejects(promise: Promise<unknown>, type: new (...args: never[]) => Error): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    assert.instance(err, type);
    return err as Error;
  }
  throw new Error(`expected a ${type.name}`);
}
