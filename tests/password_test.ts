import { assert, assertEquals } from "./_assert.ts";
import {
  generatePassword,
  judgePassword,
  MIN_PASSWORD_BITS,
  MIN_PASSWORD_LENGTH,
} from "../lib/cli/password.ts";

const EASY = (bits: number) =>
  `too easy to guess: about ${bits} bits, at least 60 needed (make it longer, or mix in capitals, digits and symbols; a word counts about 13 bits, a short one 10: five words chosen at random make a good passphrase)`;
const FAMOUS = (phrase: string, bits: number) =>
  `too easy to guess: it is built on "${phrase}", a famous phrase, so it is worth about ${bits} bits, at least 60 needed (choose words of your own)`;

Deno.test("judgePassword() refuses passwords shorter than 12 characters, counting code points", () => {
  assertEquals(MIN_PASSWORD_LENGTH, 12);
  assertEquals(
    judgePassword("kTz9#mQ2$vL").reason,
    "too short: 11 characters, at least 12 needed",
  );
  assertEquals(judgePassword("").reason, "too short: 0 characters, at least 12 needed");
  assertEquals(
    judgePassword("😃😃😃😃😃😃").reason,
    "too short: 6 characters, at least 12 needed",
  );
});

Deno.test("judgePassword() refuses common passwords, also padded, re-cased or with swapped letters", () => {
  const exact = "too common: it is one of the most used passwords";
  assertEquals(judgePassword("password1234").reason, exact);
  assertEquals(judgePassword("Correct Horse Battery Staple").reason, exact);
  assertEquals(judgePassword("QWERTYUIOPASDFGHJKL").reason, exact);
  assertEquals(
    judgePassword("P@ssw0rd1234!").reason,
    'too common: it is "password", one of the most used passwords, with little changed',
  );
  assertEquals(
    judgePassword("2024Superman!!").reason,
    'too common: it is "superman", one of the most used passwords, with little changed',
  );
});

Deno.test("judgePassword() refuses passwords under 60 estimated bits, saying how many", () => {
  assertEquals(MIN_PASSWORD_BITS, 60);
  const cases: [string, number][] = [
    ["aaaaaaaaaaaaaaaa", 5], // one character repeated
    ["abcdefghijklmnop", 9], // a run of the alphabet
    ["qwertyuiopasdf", 18], // runs along the keyboard
    ["Xq7!Xq7!Xq7!Xq7!", 24], // one part repeated
    ["ilovemydogverymuch", 39], // lowercase words: 13 bits per 8 letters
    ["ILoveMyDogVeryMuch", 52], // capitalised short words: 7 to 10 bits each
    ["2024-01-01-2024", 47], // digits are worth little
    ["orbit velvet cactus lantern", 59], // four words: 13 bits each, and the spaces
    ["mosaic mosaic mosaic mosaic mosaic", 19], // one word repeated
  ];
  for (const [password, bits] of cases) {
    assertEquals(judgePassword(password), { bits, reason: EASY(bits) }, password);
  }
});

Deno.test("judgePassword() counts a famous phrase as 10 bits wherever it stands, and judges the rest", () => {
  const cases: [string, string, number][] = [
    // The comic's phrase with a word added: the famous part, then 19 bits for " zebra".
    ["correct horse battery staple zebra", "correct horse battery staple", 28],
    ["Correct-Horse-Battery-Staple-Orange!", "correct horse battery staple", 35],
    ["The quick brown fox jumps over", "the quick brown fox jumps over", 10],
    ["hello world, hello world!", "hello world", 35],
    ["winter is coming 2024!", "winter is coming", 34],
  ];
  for (const [password, phrase, bits] of cases) {
    assertEquals(judgePassword(password), { bits, reason: FAMOUS(phrase, bits) }, password);
  }
  // Enough of one's own around it passes.
  assertEquals(
    judgePassword("correct-horse-battery-staple-orange-violin-mosaic-lantern"),
    { bits: 70, reason: null },
  );
});

Deno.test("judgePassword() accepts long random or mixed passwords and long phrases", () => {
  for (
    const password of [
      "kTz9#mQ2$vL8",
      "vN4-pQ9x-Lm2r-Zt8k",
      "My dog is 7 years old!",
      "orbit velvet cactus lantern mosaic", // five words of one's own: 73 bits
      "Purple otters juggle seven lemons",
      "日本語のパスワードです十二文字",
    ]
  ) {
    const verdict = judgePassword(password);
    assertEquals(verdict.reason, null, password);
    assert(verdict.bits >= 60, `${password}: ${verdict.bits}`);
  }
});

Deno.test("generatePassword() makes distinct passwords that always pass, four groups of five", () => {
  const seen = new Set<string>();
  for (let i = 0; i < 2000; i++) {
    const password = generatePassword();
    assert(/^[A-Za-z2-9]{5}(-[A-Za-z2-9]{5}){3}$/.test(password), password);
    assert(!/[aeiouyAEIOUY01lIO]/.test(password), `no vowels or look-alikes: ${password}`);
    const verdict = judgePassword(password);
    assertEquals(verdict.reason, null, password);
    assert(verdict.bits >= 80, `${password}: ${verdict.bits}`);
    seen.add(password);
  }
  assertEquals(seen.size, 2000);
});
