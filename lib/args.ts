/**
 * Job arguments: the `{{name, type, default}}` placeholders a koitab command
 * declares, and filling them in safely, each value quoted as one shell word.
 * Pure logic: no I/O.
 *
 * @module
 */

import type { KoitabJob } from "./koitab.ts";
import { MAX_ARGS, MAX_COMMAND_BYTES, MAX_NAME_CHARS } from "./limits.ts";
import {
  argDefault,
  argFromJson,
  argFromText,
  type ArgSpec,
  type ArgType,
  type ArgValue,
  type ArgVerdict,
  describeValue,
  isArgType,
} from "./protocol/arg_types.js";

export type { ArgSpec, ArgType, ArgValue };

/**
 * A value that cannot fill an argument of a job: an unknown name, a missing
 * required value, a value of the wrong type, or one no command line can carry.
 *
 * @example Telling the user which argument is wrong
 * ```ts
 * import { parseKoitab } from "./koitab.ts";
 * import { ArgumentError, fillArgs } from "./args.ts";
 *
 * const job = parseKoitab("@daily sleep {{Delay, int, 0}}\n").jobs[0]!;
 * try {
 *   fillArgs(job, { Delay: "soon" });
 *   throw new Error("not thrown");
 * } catch (error) {
 *   if (!(error instanceof ArgumentError)) throw error;
 *   if (error.argument !== "Delay") throw new Error(error.argument);
 *   if (error.message !== 'argument "Delay" must be a whole number, got "soon"') throw error;
 * }
 * ```
 */
export class ArgumentError extends TypeError {
  /** The name of the argument at fault, as given. */
  readonly argument: string;

  /**
   * Creates the error for one argument.
   *
   * @param message What is wrong, naming the argument:
   * `argument "Delay" must be a whole number, got "abc"`.
   * @param argument The name of the argument at fault.
   */
  constructor(message: string, argument: string) {
    super(message);
    this.name = "ArgumentError";
    this.argument = argument;
  }
}

const utf8 = new TextEncoder();

/** `{{` + anything without braces + `}}`: a placeholder if its inside fits {@linkcode PLACEHOLDER_INSIDE}. */
const BRACES_SOURCE = String.raw`\{\{([^{}]*)\}\}`;

/** A character a name may start with: a letter, a digit or an emoji. */
const NAME_START = String.raw`\p{L}\p{Nd}\p{Extended_Pictographic}\p{Regional_Indicator}`;

/**
 * The characters of a name: those it may start with, combining marks, the parts
 * of emoji sequences (joiner, variation selector, keycap, skin tones, tags),
 * spaces, `_` and `-`.
 */
const NAME_CHARS = String
  .raw`${NAME_START}\p{M}\p{Emoji_Modifier}\u200d\ufe0f\u20e3\u{e0020}-\u{e007f} _\-`;

/**
 * The inside of a placeholder: a name, then nothing or a comma and the type and
 * default. Any other `{{…}}` (`{{.Names}}`, `{{json .}}`) is plain text.
 */
const PLACEHOLDER_INSIDE = new RegExp(`^ *[${NAME_START}][${NAME_CHARS}]*(?:,[^]*)?$`, "u");

/** A literal Go template action that opens a block, closed by a later `{{end}}`. */
const TEMPLATE_OPENER = /^-?\s*(?:range|if|with|block|define)(?:\s|$)/;

/** Go template actions that only make sense inside a block: literal there, whatever they look like. */
const TEMPLATE_INNER = /^-?\s*(?:end|else|break|continue)(?:\s|-?$)/;

/** The Go template action that closes a block. */
const TEMPLATE_END = /^-?\s*end(?:\s|-?$)/;

/**
 * An argument name as typed anywhere (a placeholder, `--arg name=value`): without
 * the spaces around it, and with each run of spaces inside made one.
 *
 * @param name The name as written.
 * @returns The name Koi knows the argument by.
 *
 * @example
 * ```ts
 * import { argName } from "./args.ts";
 *
 * if (argName("  To   Handle ") !== "To Handle") throw new Error(argName("  To   Handle "));
 * ```
 */
export function argName(name: string): string {
  return name.trim().replace(/ {2,}/g, " ");
}

/** Shell contexts that change how the text around a placeholder is read. */
type Frame =
  | { kind: "code" }
  | { kind: "subshell" | "brace" | "arith"; depth: number }
  | { kind: "single" | "double" | "backtick" | "comment" };

/** Characters after which a `#` starts a shell comment (or the start of the command). */
const WORD_BREAKS = " \t\n;&|()<>";

/** Why a placeholder at this spot would defeat the quoting Koi adds, or null if it is safe. */
function contextProblem(stack: readonly Frame[]): string | null {
  for (let i = stack.length - 1; i >= 0; i--) {
    switch (stack[i]!.kind) {
      case "single":
      case "double":
        return "is inside quotes: write it bare, Koi quotes the value itself";
      case "backtick":
        return "is inside backquotes: write it bare (in $(…) if need be), Koi quotes the value itself";
      case "brace":
        return "is inside ${…}: write it bare, Koi quotes the value itself";
      case "arith":
        return "is inside $((…)): write it bare, Koi quotes the value itself";
      case "comment":
        return "is inside a shell comment, which a newline in the value would end";
    }
  }
  return null;
}

/**
 * Walks a command as `sh` would read it and calls `visit` for each placeholder,
 * with the reason it is unsafe there (in quotes, after a backslash…) or null.
 * A `{{…}}` whose inside is not a placeholder's is read as the plain text it is,
 * and so is a Go template's `{{end}}` (or `{{else}}`) after a literal `{{range …}}`,
 * `{{if …}}` or `{{with …}}` that it closes.
 */
function scanPlaceholders(
  command: string,
  visit: (raw: string, inner: string, problem: string | null, at: number) => void,
): readonly Frame[] {
  const braces = new RegExp(BRACES_SOURCE, "y");
  let templateDepth = 0;
  /** The placeholder at `at`, or null: plain text, or no `{{…}}` there. */
  const matchAt = (at: number): RegExpExecArray | null => {
    braces.lastIndex = at;
    const found = braces.exec(command);
    if (found === null) return null;
    const inner = found[1]!;
    if (templateDepth > 0 && TEMPLATE_INNER.test(inner)) {
      if (TEMPLATE_END.test(inner)) templateDepth--;
      return null;
    }
    if (PLACEHOLDER_INSIDE.test(inner)) return found;
    if (TEMPLATE_OPENER.test(inner)) templateDepth++;
    return null;
  };
  const stack: Frame[] = [{ kind: "code" }];
  let i = 0;
  /** The last place looked at: each `{{…}}` is judged once, so a template's depth counts it once. */
  let judged = -1;
  const placeholderAt = (at: number): RegExpExecArray | null => {
    if (at <= judged) return null;
    judged = at;
    return matchAt(at);
  };
  while (i < command.length) {
    const here = placeholderAt(i);
    if (here) {
      visit(here[0], here[1]!, contextProblem(stack), i);
      i += here[0].length;
      continue;
    }
    const frame = stack[stack.length - 1]!;
    const ch = command[i]!;
    const next = command[i + 1];
    if (frame.kind === "comment") {
      i++;
      continue;
    }
    if (frame.kind === "single") {
      if (ch === "'") stack.pop();
      i++;
      continue;
    }
    if (ch === "\\") {
      const escaped = placeholderAt(i + 1);
      if (escaped) {
        visit(
          escaped[0],
          escaped[1]!,
          contextProblem(stack) ??
            "follows a backslash: write it bare, Koi quotes the value itself",
          i + 1,
        );
        i += 1 + escaped[0].length;
      } else {
        i += 2;
      }
      continue;
    }
    if (frame.kind === "backtick") {
      if (ch === "`") stack.pop();
      i++;
      continue;
    }
    if (ch === "$") {
      const glued = placeholderAt(i + 1);
      if (glued) {
        visit(
          glued[0],
          glued[1]!,
          contextProblem(stack) ?? 'follows a "$": write it bare, Koi quotes the value itself',
          i + 1,
        );
        i += 1 + glued[0].length;
      } else if (next === "(" && command[i + 2] === "(") {
        stack.push({ kind: "arith", depth: 0 });
        i += 3;
      } else if (next === "(") {
        stack.push({ kind: "subshell", depth: 0 });
        i += 2;
      } else if (next === "{") {
        stack.push({ kind: "brace", depth: 0 });
        i += 2;
      } else {
        i++;
      }
      continue;
    }
    i++;
    if (ch === "`") {
      stack.push({ kind: "backtick" });
    } else if (ch === '"') {
      if (frame.kind === "double") stack.pop();
      else stack.push({ kind: "double" });
    } else if (frame.kind === "double") {
      // Inside double quotes only \, $, ` and " are special.
    } else if (ch === "'") {
      stack.push({ kind: "single" });
    } else if (ch === "#" && frame.kind !== "brace" && frame.kind !== "arith") {
      if (i === 1 || WORD_BREAKS.includes(command[i - 2]!)) stack.push({ kind: "comment" });
    } else if (frame.kind === "brace") {
      if (ch === "{") frame.depth++;
      else if (ch === "}") {
        if (frame.depth > 0) frame.depth--;
        else stack.pop();
      }
    } else if (frame.kind === "subshell" || frame.kind === "arith") {
      if (ch === "(") frame.depth++;
      else if (ch === ")") {
        if (frame.depth > 0) frame.depth--;
        else {
          if (frame.kind === "arith" && command[i] === ")") i++;
          stack.pop();
        }
      }
    }
  }
  return stack;
}

/** How each shell context reads when a command ends inside it. */
const OPEN_CONTEXTS: Readonly<Record<Exclude<Frame["kind"], "code" | "comment">, string>> = {
  single: "a '…' quote",
  double: 'a "…" quote',
  backtick: "`…`",
  subshell: "$(…)",
  brace: "${…}",
  arith: "$((…))",
};

/**
 * The shell context a command ends inside, if any: a quote, backquotes, `$(…)`,
 * `${…}` or `$((…))` left open, as when cron's `%` rule cut it short. A comment
 * left open is not counted: a comment ends with the command.
 *
 * @param command The command, after cron's `%` rule.
 * @returns What is left open (`a "…" quote`, `$(…)`), innermost first, or null.
 *
 * @example
 * ```ts
 * import { unclosedShellContext } from "./args.ts";
 *
 * if (unclosedShellContext("tar czf /b/$(date +") !== "$(…)") throw new Error();
 * if (unclosedShellContext("date +") !== null) throw new Error();
 * ```
 */
export function unclosedShellContext(command: string): string | null {
  const stack = scanPlaceholders(command, () => {});
  for (let i = stack.length - 1; i >= 0; i--) {
    const kind = stack[i]!.kind;
    if (kind !== "code" && kind !== "comment") return OPEN_CONTEXTS[kind];
  }
  return null;
}

/** The name in a placeholder's inside (everything before its first comma), as Koi knows it. */
function placeholderName(inner: string): string {
  const comma = inner.indexOf(",");
  return argName(comma < 0 ? inner : inner.slice(0, comma));
}

/** One placeholder read as an argument: a bare `{{name}}` is a string without a default. */
function readPlaceholder(raw: string, inner: string): ArgSpec {
  const name = placeholderName(inner);
  if (name.length > MAX_NAME_CHARS) {
    throw new SyntaxError(
      `argument name ${
        describeValue(name)
      } is too long: ${name.length} characters, at most ${MAX_NAME_CHARS}`,
    );
  }
  const firstComma = inner.indexOf(",");
  if (firstComma < 0) return { name, type: "string" };
  const rest = inner.slice(firstComma + 1);
  const secondComma = rest.indexOf(",");
  const type = (secondComma < 0 ? rest : rest.slice(0, secondComma)).trim();
  if (!isArgType(type)) {
    throw new SyntaxError(`unknown argument type "${type}" in ${raw} (use string, int or bool)`);
  }
  if (secondComma < 0) return { name, type };
  const verdict = argFromText(type, rest.slice(secondComma + 1).trim());
  if (!verdict.ok) throw new SyntaxError(`default of argument "${name}" ${verdict.problem}`);
  return { name, type, default: verdict.value };
}

/**
 * The arguments a command declares with `{{name}}`, `{{name, type}}` or
 * `{{name, type, default}}` placeholders, in order of first appearance.
 *
 * A `{{…}}` is a placeholder only when its inside starts with a name: letters,
 * digits, emoji, spaces, `_` and `-`, starting with a letter, digit or emoji,
 * then nothing or a comma. Anything else (`{{.State.Status}}`, `{{json .}}`,
 * `{{ .Env.X }}`, a Go template's `{{range .}}…{{end}}`) is plain text that
 * reaches the shell as written, as cron passes it. A name loses the spaces around
 * it and each run of spaces inside becomes one (see {@linkcode argName}); it has
 * at most 200 characters, and a command at most 100 arguments.
 *
 * The type is `string` (the default), `int` or `bool`. A string default is
 * everything after the second comma, trimmed, commas included; an int default
 * must be a whole number and a bool default `true` or `false`. A name used twice
 * is one argument, and every use must declare the same type and default: a bare
 * `{{name}}` is a string without a default.
 *
 * Placeholders must stand where `sh` reads a bare word, because {@linkcode fillArgs}
 * puts each value in single quotes: inside `'…'`, `"…"`, backquotes, `${…}` or
 * `$((…))`, right after `\` or `$`, or in a `#` comment, those quotes would no
 * longer protect the value, so such a placeholder is an error.
 *
 * @param command The command, after cron's `%` rule (the text koitab runs with `sh -c`).
 * @returns The arguments, in order of first appearance; empty when there are none.
 * @throws {SyntaxError} If a placeholder is malformed, unsafely placed or
 * contradicts another: `{{X}} is inside quotes: write it bare, Koi quotes the value itself`.
 *
 * @example Reading a command's arguments
 * ```ts
 * import { parseArgSpecs } from "./args.ts";
 *
 * const args = parseArgSpecs("~/tweet.sh {{To Handle}} {{Delay, int, 0}} {{Loud, bool}}");
 * const expected = JSON.stringify([
 *   { name: "To Handle", type: "string" },
 *   { name: "Delay", type: "int", default: 0 },
 *   { name: "Loud", type: "bool" },
 * ]);
 * if (JSON.stringify(args) !== expected) throw new Error(JSON.stringify(args));
 * ```
 *
 * @example A Docker template is text, not a placeholder
 * ```ts
 * import { parseArgSpecs } from "./args.ts";
 *
 * const args = parseArgSpecs("docker inspect --format='{{.State.Health.Status}}' web");
 * if (args.length !== 0) throw new Error(JSON.stringify(args));
 * ```
 *
 * @example A placeholder in quotes is refused
 * ```ts
 * import { parseArgSpecs } from "./args.ts";
 *
 * try {
 *   parseArgSpecs('echo "{{X}}"');
 *   throw new Error("not thrown");
 * } catch (error) {
 *   if (!(error instanceof SyntaxError)) throw error;
 *   if (!error.message.startsWith("{{X}} is inside quotes")) throw error;
 * }
 * ```
 */
export function parseArgSpecs(command: string): ArgSpec[] {
  const specs = new Map<string, { spec: ArgSpec; raw: string }>();
  scanPlaceholders(command, (raw, inner, problem) => {
    if (problem !== null) throw new SyntaxError(`${raw} ${problem}`);
    const spec = readPlaceholder(raw, inner);
    const earlier = specs.get(spec.name);
    if (earlier === undefined) {
      if (specs.size === MAX_ARGS) {
        throw new SyntaxError(`too many arguments: a job may have at most ${MAX_ARGS}`);
      }
      specs.set(spec.name, { spec, raw });
    } else if (earlier.spec.type !== spec.type || earlier.spec.default !== spec.default) {
      throw new SyntaxError(
        `argument "${spec.name}" is declared twice, differently: ${earlier.raw} and ${raw}`,
      );
    }
  });
  return [...specs.values()].map(({ spec }) => spec);
}

/**
 * Quotes a value as one POSIX shell word, in single quotes: the shell reads it
 * back byte for byte, with no expansion of any kind.
 *
 * @param value Any text.
 * @returns The quoted word: `'o'\''brien'` for `o'brien`, `''` for the empty string.
 *
 * @example Quoting a name with an apostrophe
 * ```ts
 * import { shellQuote } from "./args.ts";
 *
 * if (shellQuote("o'brien") !== "'o'\\''brien'") throw new Error(shellQuote("o'brien"));
 * if (shellQuote("") !== "''") throw new Error("empty");
 * if (shellQuote("$(rm -rf ~)") !== "'$(rm -rf ~)'") throw new Error("dollar");
 * ```
 */
export function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/**
 * A value given for an argument, checked by its type: text as typed (a command
 * line's) is read, anything else is taken as JSON gives it.
 */
function argVerdict(type: ArgType, value: unknown): ArgVerdict {
  return typeof value === "string" ? argFromText(type, value) : argFromJson(type, value);
}

/** The text that stands for `value` in the command, checked against `spec`. */
function argumentText(spec: ArgSpec, value: unknown): string {
  const name = spec.name;
  const given = value === undefined ? argDefault(spec) : value;
  if (given === undefined) {
    throw new ArgumentError(`argument "${name}" is required: it has no default`, name);
  }
  const verdict = argVerdict(spec.type, given);
  if (!verdict.ok) throw new ArgumentError(`argument "${name}" ${verdict.problem}`, name);
  return String(verdict.value);
}

/** The error for a name a job does not declare, saying which it does. */
function unknownArgument(job: { readonly args: readonly ArgSpec[] }, name: string): ArgumentError {
  const known = job.args.map((spec) => `"${spec.name}"`).join(", ");
  return new ArgumentError(
    `unknown argument "${name}" (${
      known === "" ? "this job takes no arguments" : `this job takes ${known}`
    })`,
    name,
  );
}

/**
 * Reads values typed as text (`--arg name=value`) for a job's arguments, each by
 * its type as every path reads it (see `./protocol/arg_types.js`): the values of
 * `koitab run` and `koitab -d run` alike.
 *
 * @param job The job's arguments.
 * @param texts The text of each value given, by argument name.
 * @returns The typed values, by name; arguments not given are left out.
 * @throws {ArgumentError} For a name the job does not declare, or a text its
 * type refuses: `argument "Delay" must be a whole number, got "+5"`.
 *
 * @example
 * ```ts
 * import { parseKoitab } from "./koitab.ts";
 * import { readArgValues } from "./args.ts";
 *
 * const job = parseKoitab("@manual sleep {{Delay, int}} {{Loud, bool}}\n").jobs[0]!;
 * const values = readArgValues(job, { Delay: "05", Loud: "true" });
 * if (values.Delay !== 5 || values.Loud !== true) throw new Error(JSON.stringify(values));
 * ```
 */
export function readArgValues(
  job: { readonly args: readonly ArgSpec[] },
  texts: Readonly<Record<string, string>>,
): Record<string, ArgValue> {
  const specs = new Map(job.args.map((spec) => [spec.name, spec]));
  for (const name of Object.keys(texts)) {
    if (!specs.has(name)) throw unknownArgument(job, name);
  }
  const values: Record<string, ArgValue> = {};
  for (const [name, text] of Object.entries(texts)) {
    const verdict = argFromText(specs.get(name)!.type, text);
    if (!verdict.ok) throw new ArgumentError(`argument "${name}" ${verdict.problem}`, name);
    // A name the job declares starts with a letter, digit or emoji: never "__proto__".
    values[name] = verdict.value;
  }
  return values;
}

/**
 * The command of a job with each placeholder replaced by its value, quoted with
 * {@linkcode shellQuote}, ready for `sh -c`.
 *
 * Values may be typed (a number for `int`, a boolean for `bool`, as JSON gives
 * them) or strings, as a command line gives them: an int as an optional `-` and
 * digits within the safe-integer range, a bool as `true` or `false`. Ints are
 * written in decimal. A missing value (absent or `undefined`) takes the default;
 * a bool without one is false; a string or int without one is required.
 * Replacement is a single pass: a value that looks like `{{A}}` stays as it is,
 * and so does `%`.
 *
 * Each value reaches the command as one literal word. What the command then
 * does with it is its own affair: options (`-rf`) still read as options unless
 * the command puts `--` first, and commands that run their arguments as code
 * (`eval`, `sh -c`, `ssh`) see the raw text.
 *
 * @param job The job, from {@linkcode parseKoitab} (its `command` and `args`).
 * @param values The value of each argument, by name.
 * @returns The command to run with `sh -c`.
 * @throws {ArgumentError} If a name is unknown, a required value is missing, a
 * value has the wrong type (`argument "Delay" must be a whole number, got "abc"`),
 * holds a NUL byte or is longer than 64 KiB in UTF-8, or if the command with its
 * values would pass the 131,071 bytes a command may have (see `MAX_COMMAND_BYTES`).
 *
 * @example Filling in the arguments of a manual job
 * ```ts
 * import { parseKoitab } from "./koitab.ts";
 * import { fillArgs } from "./args.ts";
 *
 * const { jobs } = parseKoitab('"Say Hi" @manual ~/tweet.sh {{To Handle}} {{Delay, int, 0}}\n');
 * const command = fillArgs(jobs[0]!, { "To Handle": "o'brien" });
 * if (command !== "~/tweet.sh 'o'\\''brien' '0'") throw new Error(command);
 * ```
 */
export function fillArgs(
  job: Pick<KoitabJob, "command" | "args">,
  values: Readonly<Record<string, unknown>>,
): string {
  const specs = new Map(job.args.map((spec) => [spec.name, spec]));
  for (const name of Object.keys(values)) {
    if (!specs.has(name)) throw unknownArgument(job, name);
  }
  const texts = new Map<string, string>();
  for (const spec of job.args) {
    const value = Object.hasOwn(values, spec.name) ? values[spec.name] : undefined;
    texts.set(spec.name, shellQuote(argumentText(spec, value)));
  }
  let command = "";
  let copied = 0;
  scanPlaceholders(job.command, (raw, inner, problem, at) => {
    const name = placeholderName(inner);
    const text = texts.get(name);
    if (text === undefined) {
      throw new ArgumentError(
        `the command has ${raw}, but the job declares no argument "${name}"`,
        name,
      );
    }
    if (problem !== null) throw new ArgumentError(`the command's ${raw} ${problem}`, name);
    command += job.command.slice(copied, at) + text;
    copied = at + raw.length;
  });
  command += job.command.slice(copied);
  const bytes = utf8.encode(command).length;
  if (bytes > MAX_COMMAND_BYTES) {
    const longest = job.args.reduce<ArgSpec | null>(
      (a, b) => a === null || texts.get(b.name)!.length > texts.get(a.name)!.length ? b : a,
      null,
    );
    throw new ArgumentError(
      `the command with these values is ${bytes} bytes, more than the ${MAX_COMMAND_BYTES} a command may have`,
      longest?.name ?? "",
    );
  }
  return command;
}
