// Command-line options of the project's commands (the services, the client, `npm start`,
// `npm test`, `npm run bench`, `npm run sim`, `npm run chaos`, `npm run gen`): parsed with
// node:util parseArgs, strictly (an unknown option is an error), and numbers checked against a
// range with a message naming the option. A bad option prints `<command>: <message>` and the
// usage (or a one-line hint) to stderr and exits 2; --help prints the usage and exits 0. It knows
// nothing about what the options mean. Services take environment variables, not options:
// `envUsage` lists them with their defaults for --help.

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
  /** Printed after a bad option instead of the whole usage (for a usage too long to repeat). */
  readonly hint: string | undefined;

  constructor(command: string, usage: string, hint?: string) {
    this.command = command;
    this.usage = usage;
    this.hint = hint;
  }

  /** Print the message and the usage (or the hint), exit 2. */
  fail(message: string): never {
    process.stderr.write(`${this.command}: ${message}\n${this.hint ?? this.usage}\n`);
    process.exit(2);
  }

  /** The options of `argv` by name (`--name value`, boolean `--flag`); --help answers and exits. */
  parse<K extends OptionKinds>(argv: readonly string[], kinds: K): OptionValues<K> {
    return this.parseWithPositionals(argv, kinds, 0).values;
  }

  /**
   * Like parse, and up to `positionalsMax` arguments that are not options (test name filters),
   * in order. `--` ends the options: what follows is positional even if it starts with "-".
   */
  parseWithPositionals<K extends OptionKinds>(
    argv: readonly string[],
    kinds: K,
    positionalsMax: number,
  ): { values: OptionValues<K>; positionals: string[] } {
    const end = argv.indexOf("--");
    const optionPart = end === -1 ? argv : argv.slice(0, end);
    if (optionPart.includes("--help") || optionPart.includes("-h")) {
      process.stdout.write(`${this.usage}\n`);
      process.exit(0);
    }
    const options = Object.fromEntries(Object.entries(kinds).map(([name, type]) => [name, { type }]));
    let parsed: { values: unknown; positionals: string[] };
    try {
      parsed = parseArgs({ args: [...argv], options, strict: true, allowPositionals: positionalsMax > 0 });
    } catch (err) {
      return this.fail(err instanceof Error ? err.message : String(err));
    }
    if (parsed.positionals.length > positionalsMax) {
      this.fail(`at most ${positionalsMax} ${positionalsMax === 1 ? "argument" : "arguments"} (got ${parsed.positionals.length})`);
    }
    return { values: { ...(parsed.values as object) } as OptionValues<K>, positionals: parsed.positionals };
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

/** One environment variable a service reads, for its --help. */
export type EnvVariable = {
  readonly name: string;
  /** The default as the reader applies it, or what happens when unset ("required", "off"). */
  readonly fallback: string;
  readonly about: string;
};

/** Widest default column in a service's --help; a longer default puts its meaning on the next line. */
const usageFallbackWidthMax = 16;

/** `--help` of a service: what it is, how to start it, and its variables with their defaults. */
export function envUsage(start: string, about: string, variables: readonly EnvVariable[]): string {
  const nameWidth = Math.max(...variables.map((v) => v.name.length));
  const fallbackWidth = Math.min(usageFallbackWidthMax, Math.max(...variables.map((v) => v.fallback.length)));
  const meaningIndent = " ".repeat(2 + nameWidth + 2 + fallbackWidth + 2);
  const rows = variables.map((v) => {
    const row = `  ${v.name.padEnd(nameWidth)}  ${v.fallback.padEnd(fallbackWidth)}  `;
    // A long default (a list of addresses) gets its own line rather than widening every row.
    return v.fallback.length > fallbackWidth ? `${row.trimEnd()}\n${meaningIndent}${v.about}` : `${row}${v.about}`;
  });
  return [
    `usage: ${start}`,
    about,
    'It takes no command-line arguments; it reads these environment variables (README "Configuration").',
    "An empty value means the default; a wrong value stops it with one line naming the variable (exit 2).",
    `  ${"variable".padEnd(nameWidth)}  ${"default".padEnd(fallbackWidth)}  meaning`,
    ...rows,
  ].join("\n");
}

/** Handle a service's command line: --help prints `usage` and exits 0, anything else exits 2 with a hint. */
export function serviceCommandLine(command: string, usage: string, argv: readonly string[]): void {
  new CommandLine(command, usage, `${command} takes no arguments, only environment variables; --help lists them`).parse(argv, {});
}
