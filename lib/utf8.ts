/**
 * The length of text in UTF-8, without encoding it: for byte limits and exact
 * allocations. Pure.
 *
 * @module
 */

/**
 * The number of bytes `TextEncoder` writes for a string (a lone surrogate becomes
 * U+FFFD, three bytes).
 *
 * @example
 * ```ts
 * import { utf8Length } from "./utf8.ts";
 *
 * if (utf8Length("é😃") !== 6) throw new Error("é is 2 bytes, 😃 4");
 * ```
 *
 * @param text The text.
 * @returns Its length in UTF-8.
 */
export function utf8Length(text: string): number {
  let length = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) length += 1;
    else if (code < 0x800) length += 2;
    else if (code >= 0xd800 && code <= 0xdbff && isLowSurrogate(text.charCodeAt(i + 1))) {
      length += 4;
      i++;
    } else length += 3;
  }
  return length;
}

function isLowSurrogate(code: number): boolean {
  return code >= 0xdc00 && code <= 0xdfff;
}
