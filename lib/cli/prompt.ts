/**
 * Asking a yes-or-no question on the terminal, as crontab does.
 *
 * @module
 */

/**
 * Prints `question` on stdout and reads one line from stdin.
 *
 * @param question The prompt, printed as is.
 * @returns The answer's first character, lower-cased (`"y"`, `"n"`), `""` for an
 * empty line, or null at end of input.
 */
export async function askLine(question: string): Promise<string | null> {
  await Deno.stdout.write(new TextEncoder().encode(question));
  const buffer = new Uint8Array(1);
  const bytes: number[] = [];
  while (true) {
    const n = await Deno.stdin.read(buffer);
    if (n === null) return bytes.length ? answer(bytes) : null;
    if (buffer[0] === 0x0a) return answer(bytes);
    bytes.push(buffer[0]!);
  }
}

function answer(bytes: number[]): string {
  return new TextDecoder().decode(new Uint8Array(bytes)).trim().slice(0, 1).toLowerCase();
}
