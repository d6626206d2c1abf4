// Regenerates frontend/openapi_document.ts from docs/openapi.yaml (the contract's one source):
// the frontend serves that JSON at GET /openapi.json without a YAML parser or a file read at run
// time. `node --import tsx scripts/openapi.ts` writes it and formats it with deno fmt (so
// `npm run lint` stays clean); test/openapi.test.ts fails when it is stale.

import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";
import { denoBinary } from "../lib/service_process.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const openapiYamlPath = path.join(root, "docs", "openapi.yaml");
export const openapiModulePath = path.join(root, "frontend", "openapi_document.ts");

/** The generated module's text for the YAML text: one exported JSON string. */
export function openapiModule(yamlText: string): string {
  const json = JSON.stringify(parse(yamlText));
  return [
    "// Generated from docs/openapi.yaml by `node --import tsx scripts/openapi.ts`. DO NOT EDIT.",
    "// One JSON string, so the frontend answers GET /openapi.json without parsing anything.",
    "",
    `export const openapiJson = ${JSON.stringify(json)};`,
    "",
  ].join("\n");
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  fs.writeFileSync(openapiModulePath, openapiModule(fs.readFileSync(openapiYamlPath, "utf8")));
  execFileSync(denoBinary(), ["fmt", "--quiet", openapiModulePath], { cwd: root, stdio: "inherit" });
  process.stdout.write(`wrote ${path.relative(root, openapiModulePath)}\n`);
}
