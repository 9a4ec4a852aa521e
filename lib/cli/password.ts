/**
 * The dashboard password: how strong it must be, a generator, and the prompt
 * that reads it without echo. The API key derived from it reaches the server, so
 * a stolen store lets an attacker guess passwords offline: the password must
 * resist that, not just an online guesser.
 *
 * @module
 */

import { CliError } from "./errors.ts";

/** The fewest characters a dashboard password may have. */
export const MIN_PASSWORD_LENGTH = 12;

/** The least estimated strength, in bits, of a dashboard password. */
export const MIN_PASSWORD_BITS = 60;

/**
 * What a dictionary-like word of five letters or more counts, in bits (per eight
 * letters started): about one word among 8,000, the size of the Diceware list,
 * so that five words chosen at random make a passphrase strong enough.
 */
const WORD_BITS = 13;

/** What a word of three or four letters counts: about one among the 1,000 short words. */
const SHORT_WORD_BITS = 10;

/** What a word of two letters counts (`is`, `My`): about one among a hundred. */
const TINY_WORD_BITS = 7;

/** What a famous phrase counts, wherever it appears: an attacker tries those first. */
const FAMOUS_BITS = 10;

/**
 * Famous phrases people use as passphrases: quotations, pangrams, the comic that
 * made passphrases popular. Any four words in a row of one, or the whole of a
 * shorter one, count as {@linkcode FAMOUS_BITS}, whatever is added around them.
 */
const FAMOUS_PHRASES = [
  "correct horse battery staple",
  "the quick brown fox jumps over the lazy dog",
  "to be or not to be that is the question",
  "may the force be with you",
  "i think therefore i am",
  "all your base are belong to us",
  "never gonna give you up never gonna let you down",
  "one ring to rule them all",
  "winter is coming",
  "hello world",
  "open sesame",
  "let me in",
  "i love you",
  "the cake is a lie",
  "live long and prosper",
  "houston we have a problem",
  "keep calm and carry on",
  "in god we trust",
  "the answer is forty two",
];

/**
 * The most used passwords (from the public breach lists), lower-cased. Most are
 * shorter than 12 characters and fail on length anyway; they are here so that
 * padding one ("password1234", "Qwerty123456!") is still recognised.
 */
const COMMON_PASSWORDS = new Set([
  "123456",
  "password",
  "12345678",
  "qwerty",
  "123456789",
  "12345",
  "1234",
  "111111",
  "1234567",
  "dragon",
  "123123",
  "baseball",
  "abc123",
  "football",
  "monkey",
  "letmein",
  "shadow",
  "master",
  "696969",
  "mustang",
  "666666",
  "qwertyuiop",
  "123321",
  "1234567890",
  "pussy",
  "superman",
  "654321",
  "1qaz2wsx",
  "7777777",
  "fuckyou",
  "qazwsx",
  "jordan",
  "jennifer",
  "123qwe",
  "121212",
  "killer",
  "trustno1",
  "hunter",
  "harley",
  "zxcvbnm",
  "asdfgh",
  "buster",
  "batman",
  "soccer",
  "tigger",
  "charlie",
  "sunshine",
  "iloveyou",
  "fuckme",
  "ranger",
  "hockey",
  "computer",
  "starwars",
  "asshole",
  "pepper",
  "klaster",
  "112233",
  "zxcvbn",
  "freedom",
  "princess",
  "maggie",
  "pass",
  "ginger",
  "michael",
  "welcome",
  "admin",
  "login",
  "passw0rd",
  "password1",
  "qwerty123",
  "1q2w3e4r",
  "aa123456",
  "000000",
  "qwertyuiopasdfghjkl",
  "1q2w3e4r5t6y",
  "1qaz2wsx3edc",
  "qwerty123456",
  "123456789012",
  "1234567890qwerty",
  "password1234",
  "password123",
  "iloveyou123",
  "administrator",
  "welcome123",
  "changeme",
  "letmein123",
  "abcdefghijkl",
  "qwertyqwerty",
  "correcthorsebatterystaple",
  "correct horse battery staple",
  "trustno1trustno1",
  "passwordpassword",
  "monkeymonkey",
  "starwars123",
  "football123",
  "baseball123",
  "superman123",
  "sunshine123",
  "princess123",
  "dragon123456",
  "koikoikoikoi",
  "koidashboard",
]);

/** A password's estimated strength, and why it is refused if it is. */
export interface PasswordVerdict {
  /** The estimated bits an offline guesser must get through. */
  readonly bits: number;
  /** Why the password is refused, or null when it is strong enough. */
  readonly reason: string | null;
}

/**
 * Judges a dashboard password. Refused: shorter than 12 characters; one of the
 * most used passwords (ignoring case, common letter-for-digit swaps and
 * characters added at either end); or an estimated strength under 60 bits.
 *
 * The estimate: each character is worth log2 of the size of the character
 * classes the password uses (lowercase 26, uppercase 26, digits 10, symbols 33,
 * anything else 100), a digit at most log2(10); except that a character
 * repeating the one before, or continuing a run (`abc`, `321`, `qwerty`), is
 * worth nothing, and a symbol used before is worth one bit. A dictionary-like
 * word (two or more letters, lowercase after an optional capital, with a
 * vowel) is worth at most 13 bits per started eight letters (one word among
 * 8,000, so five random words pass), 10 with three or four letters, 7 with two,
 * and 1 when used before. A password made of one part repeated is worth that
 * part, plus one bit. A famous phrase (four words in a row of one, or the whole
 * of a shorter one: `correct horse battery staple`) is worth 10 bits wherever it
 * stands, and the password is judged by what it adds to it.
 *
 * @param password The password.
 * @returns Its strength and, if refused, why.
 *
 * @example
 * ```ts
 * import { judgePassword } from "./password.ts";
 *
 * if (judgePassword("Tr0ub4dor&3").reason !== "too short: 11 characters, at least 12 needed") {
 *   throw new Error("short");
 * }
 * if (judgePassword("vN4-pQ9x-Lm2r-Zt8k").reason !== null) throw new Error("strong");
 * ```
 */
export function judgePassword(password: string): PasswordVerdict {
  const characters = [...password];
  const bits = Math.floor(estimateBits(characters));
  if (characters.length < MIN_PASSWORD_LENGTH) {
    return {
      bits,
      reason: `too short: ${characters.length} characters, at least ${MIN_PASSWORD_LENGTH} needed`,
    };
  }
  const common = commonCore(password);
  if (common !== null) {
    return {
      bits,
      reason: common === password.toLowerCase()
        ? "too common: it is one of the most used passwords"
        : `too common: it is "${common}", one of the most used passwords, with little changed`,
    };
  }
  let rest = characters;
  const phrases: string[] = [];
  for (let part = famousPart(rest); part !== null; part = famousPart(rest)) {
    phrases.push(part.phrase);
    rest = [...rest.slice(0, part.start), ...rest.slice(part.end)];
  }
  if (phrases.length > 0) {
    const left = Math.floor(FAMOUS_BITS * phrases.length + estimateBits(rest));
    if (left < MIN_PASSWORD_BITS) {
      return {
        bits: left,
        reason: `too easy to guess: it is built on "${
          phrases[0]
        }", a famous phrase, so it is worth about ${left} bits, at least ${MIN_PASSWORD_BITS} needed (choose words of your own)`,
      };
    }
    return { bits: left, reason: null };
  }
  if (bits < MIN_PASSWORD_BITS) {
    return {
      bits,
      reason:
        `too easy to guess: about ${bits} bits, at least ${MIN_PASSWORD_BITS} needed (make it longer, or mix in capitals, digits and symbols; a word counts about ${WORD_BITS} bits, a short one ${SHORT_WORD_BITS}: five words chosen at random make a good passphrase)`,
    };
  }
  return { bits, reason: null };
}

/**
 * The famous phrase the password is built on: where it is (in characters) and
 * which. Case, and anything but letters between the words, do not matter.
 */
function famousPart(
  characters: readonly string[],
): { phrase: string; start: number; end: number } | null {
  // The letters alone, lower-cased, each with where it stands in the password.
  const letters: string[] = [];
  const at: number[] = [];
  characters.forEach((character, i) => {
    const lower = character.toLowerCase();
    if (/^[a-z]$/.test(lower)) {
      letters.push(lower);
      at.push(i);
    }
  });
  const text = letters.join("");
  for (const phrase of FAMOUS_PHRASES) {
    const words = phrase.split(" ");
    const run = Math.min(4, words.length);
    for (let first = 0; first + run <= words.length; first++) {
      const index = text.indexOf(words.slice(first, first + run).join(""));
      if (index < 0) continue;
      // The match grows over the phrase's following words as far as the password has them.
      let end = index + words.slice(first, first + run).join("").length;
      let last = first + run;
      while (last < words.length && text.startsWith(words[last]!, end)) {
        end += words[last]!.length;
        last++;
      }
      return {
        phrase: words.slice(first, last).join(" "),
        start: at[index]!,
        end: at[end - 1]! + 1,
      };
    }
  }
  return null;
}

/** The common password this one is, give or take case, swaps and ends; or null. */
function commonCore(password: string): string | null {
  const lower = password.toLowerCase();
  const core = lower.replace(/^[^a-z]+|[^a-z]+$/g, "");
  const unswap = (text: string) => text.replace(/[0134578@$!]/g, (c) => SWAPS[c] ?? c);
  for (const candidate of [lower, unswap(lower), core, unswap(core)]) {
    if (candidate.length >= 4 && COMMON_PASSWORDS.has(candidate)) return candidate;
  }
  return null;
}

const SWAPS: Record<string, string> = {
  "0": "o",
  "1": "i",
  "3": "e",
  "4": "a",
  "5": "s",
  "7": "t",
  "8": "b",
  "@": "a",
  "$": "s",
  "!": "i",
};

function classOf(character: string): "lower" | "upper" | "digit" | "symbol" | "other" {
  if (/^[a-z]$/.test(character)) return "lower";
  if (/^[A-Z]$/.test(character)) return "upper";
  if (/^[0-9]$/.test(character)) return "digit";
  if (/^[\x20-\x7e]$/.test(character)) return "symbol";
  return "other";
}

const CLASS_SIZES = { lower: 26, upper: 26, digit: 10, symbol: 33, other: 100 };

function estimateBits(characters: readonly string[]): number {
  const unit = repeatedUnit(characters);
  if (unit !== null) return estimateBits(unit) + 1;
  const classes = new Set(characters.map(classOf));
  const pool = [...classes].reduce((sum, name) => sum + CLASS_SIZES[name], 0);
  const perCharacter = pool > 0 ? Math.log2(pool) : 0;
  const symbolsSeen = new Set<string>();
  const worth = characters.map((character, i) => {
    const kind = classOf(character);
    const seen = symbolsSeen.has(character);
    if (kind === "symbol") symbolsSeen.add(character);
    if (i > 0 && character === characters[i - 1]) return 0;
    if (i > 1 && continuesRun(characters[i - 2]!, characters[i - 1]!, character)) return 0;
    if (seen) return 1;
    return kind === "digit" ? Math.min(perCharacter, Math.log2(10)) : perCharacter;
  });
  let bits = 0;
  const wordsSeen = new Set<string>();
  for (let i = 0; i < characters.length;) {
    const word = wordLength(characters, i);
    const end = i + Math.max(word, 1);
    const sum = worth.slice(i, end).reduce((a, b) => a + b, 0);
    if (word === 0) {
      bits += sum;
    } else {
      const text = characters.slice(i, end).join("").toLowerCase();
      const cap = wordsSeen.has(text)
        ? 1
        : word === 2
        ? TINY_WORD_BITS
        : word <= 4
        ? SHORT_WORD_BITS
        : WORD_BITS * Math.ceil(word / 8);
      wordsSeen.add(text);
      bits += Math.min(sum, cap);
    }
    i = end;
  }
  return bits;
}

/** The length of the dictionary-like word at `i` (`My`, `horse`: a capital or not, then lowercase, with a vowel, 2 or more), or 0. */
function wordLength(characters: readonly string[], i: number): number {
  let end = classOf(characters[i] ?? "") === "upper" ? i + 1 : i;
  while (end < characters.length && classOf(characters[end]!) === "lower") end++;
  const word = characters.slice(i, end);
  const hasVowel = word.some((c) => "aeiouyAEIOUY".includes(c));
  return word.length >= 2 && end > i + 1 && hasVowel ? word.length : 0;
}

/** The keyboard rows, for runs like `qwerty` and `asdf`. */
const KEYBOARD_ROWS = ["1234567890", "qwertyuiop", "asdfghjkl", "zxcvbnm"];

/** Whether `c` continues the step from `a` to `b`: `abc`, `987`, `qwe`, `lkj`. */
function continuesRun(a: string, b: string, c: string): boolean {
  const [x, y, z] = [a, b, c].map((ch) => ch.toLowerCase().codePointAt(0)!) as [
    number,
    number,
    number,
  ];
  if (Math.abs(y - x) === 1 && z - y === y - x) return true;
  for (const row of KEYBOARD_ROWS) {
    const [i, j, k] = [a, b, c].map((ch) => row.indexOf(ch.toLowerCase()));
    if (i! >= 0 && j! >= 0 && k! >= 0 && Math.abs(j! - i!) === 1 && k! - j! === j! - i!) {
      return true;
    }
  }
  return false;
}

/** The shortest part the password repeats (`abcabcab` → `abc`), or null. */
function repeatedUnit(characters: readonly string[]): string[] | null {
  for (let size = 1; size <= characters.length / 2; size++) {
    if (characters.every((c, i) => c === characters[i % size])) return characters.slice(0, size);
  }
  return null;
}

/**
 * The alphabet of generated passwords: no look-alikes (0/O, 1/l/I) and no vowels,
 * so that no password spells a word. 47 characters.
 */
const ALPHABET = "bcdfghjkmnpqrstvwxzBCDFGHJKLMNPQRSTVWXZ23456789";

/**
 * A strong random password: four groups of five characters from 47 (no
 * look-alikes, no vowels), about 111 bits, easy to read out and type.
 *
 * @returns The password, like `xK7pq-Rt3vN-...`.
 */
export function generatePassword(): string {
  const groups: string[] = [];
  for (let g = 0; g < 4; g++) {
    let group = "";
    while (group.length < 5) {
      // Rejection sampling keeps every character equally likely.
      const [byte] = crypto.getRandomValues(new Uint8Array(1));
      if (byte! < 256 - (256 % ALPHABET.length)) group += ALPHABET[byte! % ALPHABET.length];
    }
    groups.push(group);
  }
  return groups.join("-");
}

/**
 * Reads a password from the terminal without echo (raw mode), on stderr's
 * prompt. Backspace erases; Ctrl-C and Ctrl-D on an empty line cancel.
 *
 * @param prompt The prompt, written to stderr.
 * @returns The password, or null when stdin is not a terminal.
 * @throws {CliError} When cancelled.
 */
export async function readPassword(prompt: string): Promise<string | null> {
  if (!Deno.stdin.isTerminal()) return null;
  const encoder = new TextEncoder();
  // Echo goes off before the prompt shows: what is typed once it shows is never echoed.
  Deno.stdin.setRaw(true);
  const bytes: number[] = [];
  try {
    await Deno.stderr.write(encoder.encode(prompt));
    const buffer = new Uint8Array(64);
    while (true) {
      // Bytes typed ahead, after the last line's end, come first (a pasted pair of lines).
      let input: Uint8Array;
      if (typedAhead.length > 0) {
        input = Uint8Array.from(typedAhead);
        typedAhead = [];
      } else {
        const n = await Deno.stdin.read(buffer);
        if (n === null) break;
        input = buffer.subarray(0, n);
      }
      const end = takeLine(input, bytes);
      if (end >= 0) {
        typedAhead = Array.from(input.subarray(end + 1));
        break;
      }
    }
  } finally {
    Deno.stdin.setRaw(false);
    await Deno.stderr.write(encoder.encode("\n"));
  }
  return new TextDecoder().decode(new Uint8Array(bytes));
}

/** What was typed after the end of the line the last prompt read. */
let typedAhead: number[] = [];

/**
 * Adds the typed bytes to `line`, applying the line-editing keys, up to the end
 * of the line.
 *
 * @returns The index of the byte that ended the line, or -1.
 * @throws {CliError} On Ctrl-C, or Ctrl-D on an empty line.
 */
function takeLine(input: Uint8Array, line: number[]): number {
  for (let i = 0; i < input.length; i++) {
    const byte = input[i]!;
    if (byte === 0x0d || byte === 0x0a) {
      // A CR LF pair ends one line.
      return byte === 0x0d && input[i + 1] === 0x0a ? i + 1 : i;
    }
    if (byte === 0x03 || (byte === 0x04 && line.length === 0)) {
      throw new CliError("cancelled", 130);
    }
    if (byte === 0x7f || byte === 0x08) {
      // Erase one whole UTF-8 character.
      while (line.length > 0 && (line.pop()! & 0xc0) === 0x80);
      continue;
    }
    if (byte === 0x15) {
      line.length = 0;
      continue;
    }
    if (byte >= 0x20 || byte === 0x09) line.push(byte);
  }
  return -1;
}

/** How many times a person choosing a password on the terminal may try. */
export const PASSWORD_TRIES = 3;

/**
 * The dashboard password: `KOI_PASSWORD`, else asked on the terminal, else a
 * clear failure. A new one is judged for strength: from `KOI_PASSWORD` once; on
 * the terminal as soon as it is typed, then asked again to confirm, with up to
 * {@linkcode PASSWORD_TRIES} tries, each failed one said with its reason.
 *
 * @param options Whether a new password is being chosen (judged, and confirmed on the terminal).
 * @returns The password.
 * @throws {CliError} When there is none, a new one from `KOI_PASSWORD` is too weak, or
 * every try failed.
 */
export async function obtainPassword(options: { choosing: boolean }): Promise<string> {
  const given = Deno.env.get("KOI_PASSWORD") || null;
  if (given !== null) {
    const reason = options.choosing ? judgePassword(given).reason : null;
    if (reason !== null) throw new CliError(`the password is ${reason}`);
    return given;
  }
  if (!Deno.stdin.isTerminal()) {
    throw new CliError(
      options.choosing
        ? "no password: set KOI_PASSWORD, run this on a terminal, or add --generate"
        : "no password: set KOI_PASSWORD or run this on a terminal",
    );
  }
  if (!options.choosing) return (await readPassword("Dashboard password: "))!;
  for (let tries = PASSWORD_TRIES - 1; tries >= 0; tries--) {
    const left = tries === 0
      ? ""
      : `; try another (${tries} ${tries === 1 ? "try" : "tries"} left)`;
    const password = (await readPassword("Dashboard password: "))!;
    const { reason } = judgePassword(password);
    if (reason !== null) {
      console.error(`koitab: the password is ${reason}${left}`);
      continue;
    }
    if (await readPassword("The same password again: ") === password) return password;
    console.error(`koitab: the two passwords differ${left}`);
  }
  throw new CliError(`no password chosen in ${PASSWORD_TRIES} tries: nothing was done`);
}
