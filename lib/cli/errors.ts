/**
 * The failure every Koi command reports the same way: one line on stderr,
 * `PROGRAM: message`, and a non-zero exit status.
 *
 * @module
 */

/** A failure to report to the user and exit with; the message is one line. */
export class CliError extends Error {
  /** The exit status: 1 for a failed operation, 2 for a usage mistake. */
  readonly exitCode: number;

  /**
   * @param message What failed and, where it helps, what to do.
   * @param exitCode The exit status (1 by default; 2 for usage mistakes).
   */
  constructor(message: string, exitCode = 1) {
    super(message);
    this.name = "CliError";
    this.exitCode = exitCode;
  }
}
