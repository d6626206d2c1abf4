// Regenerates gen/ from protos/: the npm `protoc` package (protoc ships inside it) runs the
// ts-proto plugin, which emits message codecs and @grpc/grpc-js service definitions.
// `node --import tsx scripts/gen.ts [outDir]` writes elsewhere (the staleness test uses it).

import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { CommandLine } from "../lib/cli.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const tsProtoOptions = [
  "outputServices=grpc-js",
  "esModuleInterop=true",
  "forceLong=number",
  "enumsAsLiterals=true",
  "importSuffix=.ts",
  "useOptionals=none",
  "outputJsonMethods=false",
  "outputPartialMethods=true",
  "env=node",
].join(",");

export function generate(outDir: string): void {
  const protos = fs.readdirSync(path.join(root, "protos")).filter((f) => f.endsWith(".proto")).sort();
  fs.mkdirSync(outDir, { recursive: true });
  for (const file of fs.readdirSync(outDir)) {
    if (file.endsWith(".ts")) fs.rmSync(path.join(outDir, file));
  }
  const bin = path.join(root, "node_modules", ".bin");
  execFileSync(path.join(bin, "protoc"), [
    `--plugin=protoc-gen-ts_proto=${path.join(bin, "protoc-gen-ts_proto")}`,
    `--ts_proto_out=${outDir}`,
    `--ts_proto_opt=${tsProtoOptions}`,
    `-I${path.join(root, "protos")}`,
    ...protos,
  ], { cwd: path.join(root, "protos"), stdio: "inherit" });
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const usage = `usage: npm run gen [-- OUT_DIR]
Regenerates the TypeScript of gen/ from protos/*.proto (protoc with the ts-proto plugin).
  OUT_DIR   write there instead of gen/ (default ${path.join(root, "gen")})`;
  const [out] = new CommandLine("gen", usage).parseWithPositionals(process.argv.slice(2), {}, 1).positionals;
  const outDir = path.resolve(out ?? path.join(root, "gen"));
  generate(outDir);
  process.stdout.write(`generated ${outDir}\n`);
}
