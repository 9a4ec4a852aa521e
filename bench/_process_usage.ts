/**
 * What a process costs, for the load harnesses: its resident memory and CPU
 * time from `/proc`, and the machine's load average (other work skews the
 * figures).
 *
 * @module
 */

/**
 * A process's resident memory (bytes) and CPU time (seconds), from `/proc/<pid>/`,
 * read with `cat`: Deno opens `/proc/<pid>/` only to `--allow-all`.
 *
 * @param pid The process.
 * @returns Its memory and CPU time so far.
 */
export async function usage(pid: number): Promise<{ rss: number; cpuSeconds: number }> {
  const { stdout } = await new Deno.Command("/bin/cat", {
    args: [`/proc/${pid}/status`, `/proc/${pid}/stat`],
    stdout: "piped",
    stderr: "null",
  }).output();
  const text = new TextDecoder().decode(stdout);
  const rss = Number(/^VmRSS:\s+(\d+) kB$/m.exec(text)![1]) * 1024;
  const stat = text.trimEnd().split("\n").at(-1)!;
  // Fields after the command name (which may hold spaces): utime and stime are 12th and 13th.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]);
  return { rss, cpuSeconds: ticks / 100 };
}

/**
 * The machine's 1-minute load average, from `/proc/loadavg`: other work skews the figures.
 *
 * @returns The load average.
 */
export async function loadAverage(): Promise<number> {
  const { stdout } = await new Deno.Command("/bin/cat", {
    args: ["/proc/loadavg"],
    stdout: "piped",
  })
    .output();
  return Number(new TextDecoder().decode(stdout).split(" ")[0]);
}

/**
 * The CPU cores a process kept busy between two usage readings.
 *
 * @param before The first reading.
 * @param after The second.
 * @param seconds The time between them.
 * @returns The cores, to two decimals.
 */
export function cpuShare(
  before: { cpuSeconds: number },
  after: { cpuSeconds: number },
  seconds: number,
): number {
  return Math.round((after.cpuSeconds - before.cpuSeconds) / seconds * 100) / 100;
}
