// @ts-check
// deno-lint-ignore-file no-control-regex -- escape codes are what this module reads
/**
 * Terminal escape codes in job output, turned into styled text: the SGR codes
 * for the 16 foreground colours (30-37, 90-97), bold (1) and reset (0) become a
 * style per piece of text; every other escape and control character is dropped.
 * Pure: text in, pieces out; the page draws them with CSS classes.
 *
 * @module
 */

/**
 * A piece of output text and how to show it.
 *
 * @typedef {object} AnsiPiece
 * @property {string} text The text, without escapes.
 * @property {number | null} color The colour: 0-7 normal, 8-15 bright; null for the default.
 * @property {boolean} bold Whether it is bold.
 */

/** The longest unfinished escape carried over to the next chunk; longer is dropped. */
const MAX_PENDING = 4096;

/** A control sequence (CSI): parameters, intermediates, one final byte. */
const CSI = /^\x1b\[([0-?]*)([ -/]*)([@-~])/;
/** A string escape (OSC, DCS, SOS, PM, APC), ended by BEL or ESC \. */
const STRING_ESCAPE = /^\x1b[\]PX^_][^\x07\x1b]*(\x07|\x1b\\)/;
/** The characters after ESC that start a string escape. */
const STRING_STARTS = "]PX^_";
/** An escape that may yet be completed by the next chunk. */
const UNFINISHED = /^\x1b(\[[0-?]*[ -/]*|[\]PX^_][^\x07]*|[ -/]*)$/;
/** Any other escape: intermediates, then one final byte. */
const OTHER_ESCAPE = /^\x1b[ -/]*[0-~]/;
/** Control characters shown as nothing: all but tab and newline (CR is handled first). */
const CONTROLS = /[\x00-\x08\x0b-\x1a\x1c-\x1f\x7f-\x9f]/g;

/**
 * Reads a run's output chunk by chunk, keeping the style (and any escape cut in
 * two by a chunk boundary) from one chunk to the next.
 *
 * @example
 * ```ts
 * import { AnsiReader } from "./ansi.js";
 *
 * const pieces = new AnsiReader().read("\x1b[1;31mERROR\x1b[0m ok\x1b]0;title\x07");
 * if (JSON.stringify(pieces) !== JSON.stringify([
 *   { text: "ERROR", color: 1, bold: true },
 *   { text: " ok", color: null, bold: false },
 * ])) throw new Error(JSON.stringify(pieces));
 * ```
 */
export class AnsiReader {
  /** @type {number | null} */
  #color = null;
  #bold = false;
  /** @type {Map<string, string>} */
  #pending = new Map();

  /**
   * Reads the next chunk of one stream.
   *
   * @param {string} chunk The chunk's text.
   * @param {string} [stream] Its stream: an escape cut short continues in the same stream.
   * @returns {AnsiPiece[]} Its pieces, neighbours of the same style merged, none empty.
   */
  read(chunk, stream = "") {
    const text = ((this.#pending.get(stream) ?? "") + chunk).replace(/\r\n/g, "\n");
    this.#pending.delete(stream);
    /** @type {AnsiPiece[]} */
    const pieces = [];
    /** @param {string} part */
    const add = (part) => {
      const clean = part.replace(/\r/g, "\n").replace(CONTROLS, "");
      if (clean === "") return;
      const last = pieces[pieces.length - 1];
      if (last && last.color === this.#color && last.bold === this.#bold) last.text += clean;
      else pieces.push({ text: clean, color: this.#color, bold: this.#bold });
    };
    let at = 0;
    while (at < text.length) {
      const escape = text.indexOf("\x1b", at);
      if (escape < 0) {
        add(text.slice(at));
        break;
      }
      add(text.slice(at, escape));
      const rest = text.slice(escape);
      const kind = rest[1] ?? "";
      const pattern = kind === "["
        ? CSI
        : kind !== "" && STRING_STARTS.includes(kind)
        ? STRING_ESCAPE
        : OTHER_ESCAPE;
      const match = pattern.exec(rest);
      const csi = pattern === CSI ? match : null;
      if (match === null) {
        if (UNFINISHED.test(rest) && rest.length <= MAX_PENDING) {
          this.#pending.set(stream, rest);
          break;
        }
        at = escape + (kind === "[" ? 2 : 1);
        continue;
      }
      if (csi && csi[3] === "m" && csi[2] === "" && /^[0-9;]*$/.test(csi[1] ?? "")) {
        this.#select(csi[1] ?? "");
      }
      at = escape + match[0].length;
    }
    return pieces;
  }

  /** @param {string} params An SGR sequence's parameters, such as `1;31`. */
  #select(params) {
    const codes = params === "" ? [0] : params.split(";").map((p) => p === "" ? 0 : Number(p));
    for (let i = 0; i < codes.length; i++) {
      const code = /** @type {number} */ (codes[i]);
      if (code === 0) {
        this.#color = null;
        this.#bold = false;
      } else if (code === 1) this.#bold = true;
      else if (code === 22) this.#bold = false;
      else if (code >= 30 && code <= 37) this.#color = code - 30;
      else if (code >= 90 && code <= 97) this.#color = code - 90 + 8;
      else if (code === 39) this.#color = null;
      else if (code === 38 || code === 48) {
        // 256-colour and true-colour forms: their numbers are not codes of their own.
        i += codes[i + 1] === 5 ? 2 : codes[i + 1] === 2 ? 4 : 0;
      }
    }
  }
}
