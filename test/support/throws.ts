// Assertions uvu lacks: that a call throws, or a promise rejects, with an error of a given class;
// each hands the error back for the checks that follow.

import * as assert from "uvu/assert";

type ErrorClass<E extends Error> = new (...args: never[]) => E;

/** The error `fn` throws, once checked to be an instance of `type`; fails the test otherwise. */
export function thrown<E extends Error>(fn: () => unknown, type: ErrorClass<E>): E {
  try {
    fn();
  } catch (err) {
    assert.instance(err, type);
    return err as E;
  }
  throw new Error(`expected a ${type.name}`);
}

/** Resolves with the error once `promise` rejects with an instance of `type`; fails the test otherwise. */
export async function rejects<E extends Error>(promise: Promise<unknown>, type: ErrorClass<E>): Promise<E> {
  try {
    await promise;
  } catch (err) {
    assert.instance(err, type);
    return err as E;
  }
  throw new Error(`expected a ${type.name}`);
}
