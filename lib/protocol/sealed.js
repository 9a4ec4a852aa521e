// @ts-check
/**
 * Where each sealed value of the API belongs: the envelope context
 * (`./envelope.js`) of every field that crosses the wire as ciphertext, and the
 * code that seals those fields and opens them again. koid seals what it sends;
 * the page and `koitab -d` open what they show, and seal a manual run's
 * arguments; koid opens those. All of them run this very file, so a value is
 * always sealed and opened with the same context. Only Web Crypto.
 *
 * | Value                            | scope         | field                   | seq            |
 * | -------------------------------- | ------------- | ----------------------- | -------------- |
 * | a job's command line             | job tag       | `command`               | 0              |
 * | an argument's default            | job tag       | `args.NAME.default`     | 0              |
 * | a run's argument value           | run id        | `args.NAME`             | 0              |
 * | a run's `error`                  | run id        | `error`                 | 0              |
 * | a chunk of live output           | run id        | `output.STREAM`         | the chunk's    |
 * | a chunk of a run's final output  | run id        | `final.STREAM`          | its index      |
 * | koid's reason to refuse a run    | manual-run id | `refusal`               | 0              |
 * | a manual run's argument value    | job tag       | `args.NAME`             | payload's `ts` |
 *
 * Every context also names the dashboard and the host. Argument values and
 * defaults are sealed as their JSON text (`"x"`, `5`, `true`), so their type
 * survives; every other value is sealed as its text.
 *
 * @module
 */

import { EnvelopeError, seal, UNDECRYPTABLE_TEXT, unsealText } from "./envelope.js";
import { payloadText } from "./signing.js";

export { UNDECRYPTABLE_TEXT };

/** @typedef {import("./envelope.js").EnvelopeContext} EnvelopeContext */
/** @typedef {import("./arg_types.js").ArgValue} ArgValue */
/** @typedef {import("./arg_types.js").ArgSpec} ArgSpec */
/** @typedef {string | CryptoKey} DataKey The data key, or its `importDataKey()`. */

/**
 * Where a sealed value of the API belongs.
 *
 * @param {string} dashboard The dashboard id.
 * @param {string} host The host the value comes from or goes to.
 * @returns {{
 *   command: (tag: string) => EnvelopeContext,
 *   argDefault: (tag: string, name: string) => EnvelopeContext,
 *   runArg: (runId: string, name: string) => EnvelopeContext,
 *   error: (runId: string) => EnvelopeContext,
 *   output: (runId: string, stream: string, seq: number, final: boolean) => EnvelopeContext,
 *   refusal: (manualId: string) => EnvelopeContext,
 *   payloadArg: (tag: string, name: string, ts: number) => EnvelopeContext,
 * }} The context of each kind of value.
 *
 * @example A final chunk cannot pass for a streamed one
 * ```ts
 * import { contexts } from "./sealed.js";
 *
 * const at = contexts("Zm9vYmFyYmF6cXV4MTIzNA", "web1");
 * if (at.output("r1", "stdout", 0, true).field !== "final.stdout") throw new Error("final");
 * if (at.output("r1", "stdout", 0, false).field !== "output.stdout") throw new Error("live");
 * ```
 */
export function contexts(dashboard, host) {
  /** @type {(scope: string, field: string, seq?: number) => EnvelopeContext} */
  const at = (scope, field, seq = 0) => ({ dashboard, host, scope, field, seq });
  return {
    command: (tag) => at(tag, "command"),
    argDefault: (tag, name) => at(tag, `args.${name}.default`),
    runArg: (runId, name) => at(runId, `args.${name}`),
    error: (runId) => at(runId, "error"),
    output: (runId, stream, seq, final) =>
      at(runId, `${final ? "final" : "output"}.${stream}`, seq),
    refusal: (manualId) => at(manualId, "refusal"),
    payloadArg: (tag, name, ts) => at(tag, `args.${name}`, ts),
  };
}

/**
 * Seals an argument's value or default as its JSON text, so its type survives.
 *
 * @param {DataKey} key The data key.
 * @param {EnvelopeContext} context Where it belongs.
 * @param {ArgValue} value The value.
 * @returns {Promise<string>} The envelope.
 */
export function sealValue(key, context, value) {
  return seal(key, context, JSON.stringify(value));
}

/**
 * Opens an argument's value or default sealed by {@linkcode sealValue}.
 *
 * @param {DataKey} key The data key.
 * @param {EnvelopeContext} context Where it is expected to belong.
 * @param {unknown} envelope The envelope, as received.
 * @returns {Promise<ArgValue>} The value: a string, a number or a boolean.
 * @throws {EnvelopeError} If it does not open, or holds anything else.
 */
export async function openValue(key, context, envelope) {
  const text = await unsealText(key, context, /** @type {string} */ (envelope));
  /** @type {unknown} */
  let value;
  try {
    value = JSON.parse(text);
  } catch {
    value = undefined;
  }
  if (!["string", "number", "boolean"].includes(typeof value)) {
    throw new EnvelopeError(
      "malformed",
      `Cannot decrypt "${context.field}" of ${context.scope}: it holds no argument value`,
    );
  }
  return /** @type {ArgValue} */ (value);
}

/**
 * Opens a sealed text to show it: {@linkcode UNDECRYPTABLE_TEXT} in its place
 * when it does not open (changed or moved on the server, another key, not an
 * envelope at all). Never throws for the envelope's sake.
 *
 * @param {DataKey} key The data key.
 * @param {EnvelopeContext} context Where it is expected to belong.
 * @param {unknown} envelope The envelope, as received.
 * @returns {Promise<string>} The text, or {@linkcode UNDECRYPTABLE_TEXT}.
 */
export async function openText(key, context, envelope) {
  try {
    return await unsealText(key, context, /** @type {string} */ (envelope));
  } catch (error) {
    if (error instanceof EnvelopeError || typeof envelope !== "string") return UNDECRYPTABLE_TEXT;
    throw error;
  }
}

/**
 * Opens a value sealed by {@linkcode sealValue} to show it: the value, or
 * {@linkcode UNDECRYPTABLE_TEXT} when it does not open.
 *
 * @param {DataKey} key The data key.
 * @param {EnvelopeContext} context Where it is expected to belong.
 * @param {unknown} envelope The envelope, as received.
 * @returns {Promise<ArgValue>} The value, or {@linkcode UNDECRYPTABLE_TEXT}.
 */
export async function openShownValue(key, context, envelope) {
  try {
    return await openValue(key, context, envelope);
  } catch (error) {
    if (error instanceof EnvelopeError || typeof envelope !== "string") return UNDECRYPTABLE_TEXT;
    throw error;
  }
}

/**
 * A job as the API lists it, opened: its command (when the answer has it) and
 * its argument defaults in plain text ({@linkcode UNDECRYPTABLE_TEXT} for one
 * that does not open).
 *
 * @template {{ host: string, tag: string, command?: unknown, args: readonly ArgSpec[] }} J
 * @param {DataKey} key The data key.
 * @param {string} dashboard The dashboard id.
 * @param {J} job The job, as received.
 * @returns {Promise<J>} The job, opened: `command` a text, `args[].default` a value.
 */
export async function openJob(key, dashboard, job) {
  const at = contexts(dashboard, job.host);
  const args = await Promise.all(
    job.args.map(async (arg) =>
      arg.default === undefined ? arg : {
        ...arg,
        default: await openShownValue(key, at.argDefault(job.tag, arg.name), arg.default),
      }
    ),
  );
  const opened = { ...job, args };
  if (job.command !== undefined) {
    opened.command = await openText(key, at.command(job.tag), job.command);
  }
  return opened;
}

/**
 * A run as the API shows it, opened: its argument values and its `error`.
 *
 * @template {{ id: string, host: string, args: object, error: unknown }} R
 * @param {DataKey} key The data key.
 * @param {string} dashboard The dashboard id.
 * @param {R} run The run, as received.
 * @returns {Promise<R & { args: Record<string, ArgValue>, error: string | null }>} The run,
 *   opened.
 */
export async function openRun(key, dashboard, run) {
  const at = contexts(dashboard, run.host);
  const args = Object.fromEntries(
    await Promise.all(
      Object.entries(run.args ?? {}).map(async (
        [name, envelope],
      ) => /** @type {const} */ ([
        name,
        await openShownValue(key, at.runArg(run.id, name), envelope),
      ])),
    ),
  );
  const error = run.error === null || run.error === undefined
    ? null
    : await openText(key, at.error(run.id), run.error);
  return { ...run, args, error };
}

/**
 * A run's output as the API gives it, opened chunk by chunk: a run's final
 * chunks once it has ended, else its live ones.
 *
 * @template {{ seq: number, stream: string, text: unknown }} C
 * @param {DataKey} key The data key.
 * @param {string} dashboard The dashboard id.
 * @param {{ id: string, host: string, status: string }} run The run the output is of.
 * @param {readonly C[]} chunks The chunks, as received with it.
 * @returns {Promise<(C & { text: string, undecryptable?: true })[]>} The chunks, opened;
 *   one that does not open holds {@linkcode UNDECRYPTABLE_TEXT}, marked `undecryptable`.
 */
export function openOutput(key, dashboard, run, chunks) {
  const at = contexts(dashboard, run.host);
  const final = run.status !== "running";
  return Promise.all(chunks.map(async (chunk) => {
    const context = at.output(run.id, chunk.stream, chunk.seq, final);
    try {
      return { ...chunk, text: await unsealText(key, context, /** @type {string} */ (chunk.text)) };
    } catch (error) {
      if (!(error instanceof EnvelopeError) && typeof chunk.text === "string") throw error;
      return { ...chunk, text: UNDECRYPTABLE_TEXT, undecryptable: /** @type {const} */ (true) };
    }
  }));
}

/**
 * A manual run as the API shows it, opened: the argument values of its payload
 * and koid's reason to refuse it.
 *
 * @template {{ id: string, host: string, tag: string, ts?: number, args: object, reason?: unknown }} M
 * @param {DataKey} key The data key.
 * @param {string} dashboard The dashboard id.
 * @param {M} manual The manual run, as received.
 * @returns {Promise<M & { args: Record<string, ArgValue> }>} The manual run, opened.
 */
export async function openManualRun(key, dashboard, manual) {
  const at = contexts(dashboard, manual.host);
  const ts = manual.ts ?? -1;
  const args = Object.fromEntries(
    await Promise.all(
      Object.entries(manual.args ?? {}).map(async ([name, envelope]) => /** @type {const} */ ([
        name,
        ts < 0
          ? UNDECRYPTABLE_TEXT
          : await openShownValue(key, at.payloadArg(manual.tag, name, ts), envelope),
      ])),
    ),
  );
  const opened = { ...manual, args };
  if (manual.reason !== undefined && manual.reason !== null) {
    opened.reason = await openText(key, at.refusal(manual.id), manual.reason);
  }
  return opened;
}

/**
 * Seals a manual run's argument values for its payload, before it is signed:
 * each with the job's tag and the payload's unique timestamp, so a sealed value
 * opens in this request only.
 *
 * @param {DataKey} key The data key.
 * @param {{ dashboard: string, host: string, tag: string, ts: number }} request What the
 *   payload names.
 * @param {Readonly<Record<string, ArgValue>>} values The values, typed.
 * @returns {Promise<Record<string, string>>} The envelopes, by argument name.
 */
export async function sealPayloadArgs(key, request, values) {
  const at = contexts(request.dashboard, request.host);
  return Object.fromEntries(
    await Promise.all(
      Object.entries(values).map(async ([name, value]) => /** @type {const} */ ([
        name,
        await sealValue(key, at.payloadArg(request.tag, name, request.ts), value),
      ])),
    ),
  );
}

/**
 * The payload text of a manual run, ready to sign: its argument values sealed
 * by {@linkcode sealPayloadArgs}, in the fixed order of `payloadText()`.
 *
 * @param {DataKey} key The data key.
 * @param {{ dashboard: string, host: string, tag: string, ts: number }} request What the
 *   payload names; `ts` must be unique per request.
 * @param {Readonly<Record<string, ArgValue>>} values The values, typed.
 * @returns {Promise<string>} The payload text (version 2).
 */
export async function manualPayload(key, request, values) {
  const { dashboard, host, tag, ts } = request;
  const args = await sealPayloadArgs(key, request, values);
  return payloadText({ v: 2, dashboard, host, tag, ts, args });
}
