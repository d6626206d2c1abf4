// Which environment variables a configuration reader looks at: the config tests compare that
// set with the variables each service lists for --help, so the list cannot fall behind.

import type { Env } from "../../lib/config.ts";

/** The names `read` asks `env` for, set or not (a lookup and an own-key check both count). */
export function variablesRead(env: Env, read: (env: Env) => unknown): Set<string> {
  const names = new Set<string>();
  const note = (name: string | symbol): void => {
    if (typeof name === "string") names.add(name);
  };
  const recording = new Proxy({ ...env }, {
    get(target, name) {
      note(name);
      return Reflect.get(target, name);
    },
    has(target, name) {
      note(name);
      return Reflect.has(target, name);
    },
    getOwnPropertyDescriptor(target, name) {
      note(name);
      return Reflect.getOwnPropertyDescriptor(target, name);
    },
  });
  read(recording);
  return names;
}
