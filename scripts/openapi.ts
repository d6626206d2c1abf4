// Regenerates frontend/openapi_document.ts from docs/openapi.yaml (the contract's one source):
// the frontend serves that JSON at GET /openapi.json without a YAML parser or a file read at run
// time. `node --import tsx scripts/openapi.ts`; test/openapi.test.ts fails when it is stale.

import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";

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
  process.stdout.write(`wrote ${path.relative(root, openapiModulePath)}\n`);
}
