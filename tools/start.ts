/**
 * `deno task start`: will start a local dashboard, a demo koitab and koid in one
 * command (issue 7). Until then it says so.
 *
 * @module
 */

console.error(
  "koi: 'deno task start' is not there yet: the one-command demo arrives with issue 7.\n" +
    "For now: 'deno task koitab --help', 'deno task koid --help', 'deno task test'.",
);
Deno.exit(2);
