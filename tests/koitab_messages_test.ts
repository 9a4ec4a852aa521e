/**
 * What a koitab's reader says about files and lines that are not cron entries at
 * all: a binary file is not text, and a line that is no cron entry (a `//`
 * comment, the second half of a `\`-continued line) gets its first field named,
 * `bad minute "//"`, however many words it has, as crontab says.
 *
 * @module
 */

import { assertEquals } from "./_assert.ts";
import { runEntry } from "./_entry.ts";
import { parseKoitab } from "../lib/koitab.ts";

const NOT_TEXT = "not text: a NUL byte (a koitab is UTF-8 text, not a binary or UTF-16 file)";

Deno.test("parseKoitab() says a file with a NUL byte is not text, once, on the line of the first", () => {
  const elf = "\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x02\0>\0\x01\0\0\0";
  assertEquals(parseKoitab(elf), { env: {}, jobs: [], errors: [{ line: 1, message: NOT_TEXT }] });
  const late = "@daily date\n# fine so far\nx\0y\n0 25 * * * more\n";
  assertEquals(parseKoitab(late).errors, [{ line: 3, message: NOT_TEXT }]);
  assertEquals(parseKoitab(late).jobs, []);
  // What a Windows editor saves as "Unicode": UTF-16, a NUL after every ASCII character.
  const utf16 = new TextDecoder().decode(
    new Uint8Array([...new TextEncoder().encode("@daily date\n")].flatMap((b) => [b, 0])),
  );
  assertEquals(parseKoitab(utf16).errors, [{ line: 1, message: NOT_TEXT }]);
});

Deno.test("parseKoitab() names the first field of a line that is no cron entry, whatever its length", () => {
  const { errors } = parseKoitab(
    [
      "// Prod crontab",
      "// Prod crontab, edited by ops on Tuesday",
      "0 3 * * * /usr/local/bin/backup \\",
      "  --full >/dev/null",
      "  --full --verbose --to /mnt/backup >/dev/null",
      "/5 * * * * date",
      "echo hello",
      "",
    ].join("\n"),
  );
  assertEquals(errors, [
    { line: 1, message: 'bad minute "//" (0-59)' },
    { line: 2, message: 'bad minute "//" (0-59)' },
    { line: 4, message: 'bad minute "--full" (0-59)' },
    { line: 5, message: 'bad minute "--full" (0-59)' },
    { line: 6, message: 'bad minute "/5" (0-59)' },
    { line: 7, message: 'bad minute "echo" (0-59)' },
  ]);
  // Fields that are right up to where the line stops still get "missing".
  assertEquals(parseKoitab("0 3 * *\n").errors[0]!.message.startsWith("missing day-of-week"), true);
});

Deno.test("koitab refuses to install or check a binary file as a table, saying it is not text", async () => {
  const dir = await Deno.makeTempDir({ prefix: "koi_messages_" });
  try {
    const binary = `${dir}/program`;
    await Deno.writeFile(binary, new Uint8Array([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0, 0, 0, 10]));
    const env = { KOI_DIR: `${dir}/koi` };
    assertEquals(await runEntry("koitab", [binary], { env }), {
      code: 1,
      stdout: "",
      stderr: `koitab line 1: ${NOT_TEXT}\nkoitab: ${binary} has 1 error; nothing was installed\n`,
    });
    assertEquals(await runEntry("koitab", ["--check", binary], { env }), {
      code: 1,
      stdout: "",
      stderr: `koitab line 1: ${NOT_TEXT}\nkoitab: ${binary} has 1 error\n`,
    });
    assertEquals(await Array.fromAsync(Deno.readDir(dir), (entry) => entry.name), ["program"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
