// The container image's entry point: its first argument names what to run, the rest are that
// program's own arguments, so one image serves every service (compose.yaml, deploy/k8s/):
//   catalog | order | frontend | client [client options]
// It only dispatches, in the same process (signals reach the service directly); each service
// still reads its configuration from the environment.

import * as path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

/** Every command the image accepts, and the entry file (from the project root) it runs. */
export const containerCommands = {
  catalog: "catalog/main.ts",
  order: "order/main.ts",
  frontend: "frontend/main.ts",
  client: "client/run.ts",
} as const;

export type ContainerCommand = keyof typeof containerCommands;

export function isContainerCommand(name: string): name is ContainerCommand {
  return Object.hasOwn(containerCommands, name);
}

const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** True when the module at `url` is the program that was started (argv[1]), not an import. */
export function isMainModule(url: string): boolean {
  const started = process.argv[1];
  return started !== undefined && path.resolve(started) === fileURLToPath(url);
}

async function main(): Promise<void> {
  const name = process.argv[2] ?? "";
  if (!isContainerCommand(name)) {
    process.stderr.write(`entrypoint: unknown command "${name}"; expected one of ${Object.keys(containerCommands).join(", ")}\n`);
    process.exit(2);
  }
  // The program sees argv as when it is started directly: its own path, then its arguments.
  const entry = path.join(projectRoot, containerCommands[name]);
  process.argv.splice(1, 2, entry);
  await import(pathToFileURL(entry).href);
}

// Run only as the main module: tests import the command table.
if (isMainModule(import.meta.url)) await main();
