/**
 * The one table of argument values as people type them, with the one verdict
 * every path must give each: `koitab run`, `koitab -d run`, the page's form and
 * koid's check (tests/arg_types_test.ts, tests/dashboard_page_test.ts).
 *
 * @module
 */

import type { ArgType, ArgValue } from "../lib/protocol/arg_types.js";

/** A type, a text as typed, and its verdict: the value it stands for, or null when refused. */
export type ArgCase = readonly [type: ArgType, text: string, verdict: ArgValue | null];

/** The cases: the issue's own (`+5`, `05`, `-0`, `1e3`, ` 5`, 2^66, `TRUE`, `yes`) and their neighbours. */
export const ARG_CASES: readonly ArgCase[] = [
  ["int", "5", 5],
  ["int", "+5", null],
  ["int", "05", 5],
  ["int", "-0", 0],
  ["int", "-12", -12],
  ["int", "1e3", null],
  ["int", " 5", null],
  ["int", "5 ", null],
  ["int", "4.5", null],
  ["int", "0x10", null],
  ["int", "five", null],
  ["int", "99999999999999999999", null],
  ["int", "9007199254740991", 9007199254740991],
  ["int", "-9007199254740991", -9007199254740991],
  ["int", "9007199254740992", null],
  ["int", "TRUE", null],
  ["bool", "true", true],
  ["bool", "false", false],
  ["bool", "TRUE", null],
  ["bool", "yes", null],
  ["bool", "1", null],
  ["bool", " true", null],
  ["string", " 5", " 5"],
  ["string", "+5", "+5"],
  ["string", "yes", "yes"],
  ["string", "'; rm -rf ~ #", "'; rm -rf ~ #"],
  ["string", "a\0b", null],
  ["string", "x".repeat(64 * 1024 + 1), null],
];
