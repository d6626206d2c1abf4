// Command-line options of the project's commands (the client, `npm run bench`, `npm run sim`,
// `npm run chaos`, the HTTP benchmark): parsed with node:util parseArgs, strictly (an unknown
// option is an error), and numbers checked against a range with a message naming the option. A
// bad option prints `<command>: <message>` and the usage to stderr and exits 2; --help prints
// the usage and exits 0. It knows nothing about what the options mean.

import { parseArgs } from "node:util";

export type OptionKinds = Readonly<Record<string, "string" | "boolean">>;
export type OptionValues<K extends OptionKinds> = { [P in keyof K]?: K[P] extends "boolean" ? boolean : string };

export type NumberRule = {
  readonly fallback: number;
  readonly min: number;
  readonly max: number;
  /** Whole numbers only (default true). */
  readonly integer?: boolean;
};

export class CommandLine {
  readonly command: string;
  readonly usage: string;

  constructor(command: string, usage: string) {
    this.command = command;
    this.usage = usage;
  }

  /** Print the message and the usage, exit 2. */
  fail(message: string): never {
    process.stderr.write(`${this.command}: ${message}\n${this.usage}\n`);
    process.exit(2);
  }

  /** The options of `argv` by name (`--name value`, boolean `--flag`); --help answers and exits. */
  parse<K extends OptionKinds>(argv: readonly string[], kinds: K): OptionValues<K> {
    if (argv.includes("--help") || argv.includes("-h")) {
      process.stdout.write(`${this.usage}\n`);
      process.exit(0);
    }
    const options = Object.fromEntries(Object.entries(kinds).map(([name, type]) => [name, { type }]));
    try {
      return { ...parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }).values } as OptionValues<K>;
    } catch (err) {
      return this.fail(err instanceof Error ? err.message : String(err));
    }
  }

  /** `text` as a number within the rule's range, or its fallback when the option was not given. */
  number(name: string, text: string | undefined, rule: NumberRule): number {
    if (text === undefined) return rule.fallback;
    const integer = rule.integer ?? true;
    const n = Number(text);
    if (text.trim() === "" || !Number.isFinite(n) || n < rule.min || n > rule.max || (integer && !Number.isSafeInteger(n))) {
      this.fail(`--${name} must be ${integer ? "an integer" : "a number"} from ${rule.min} to ${rule.max} (got "${text}")`);
    }
    return n;
  }
}
