/**
 * Which boot of the machine this is, so that `@reboot` jobs run once per boot and
 * not at every start of koid: Linux's boot id, macOS's boot session UUID.
 *
 * @module
 */

/**
 * Reads a boot id out of a command's output: the first line, trimmed. macOS's
 * `kern.boottime` (`{ sec = 1700000000, usec = 12 } Tue Nov 14 …`) becomes
 * `boottime:1700000000.12`; an empty answer is no id.
 *
 * @param text What the command printed.
 * @returns The id, or null.
 *
 * @example
 * ```ts
 * import { parseBootId } from "./boot.ts";
 *
 * if (parseBootId("190b3334-a6dc-4de4-97aa-1f2c0eae72d3\n") !== "190b3334-a6dc-4de4-97aa-1f2c0eae72d3") {
 *   throw new Error();
 * }
 * const boottime = parseBootId("{ sec = 1700000000, usec = 123456 } Tue Nov 14 22:13:20 2023\n");
 * if (boottime !== "boottime:1700000000.123456") throw new Error(boottime ?? "null");
 * if (parseBootId("\n") !== null) throw new Error();
 * ```
 */
export function parseBootId(text: string): string | null {
  const line = text.split("\n", 1)[0]!.trim();
  const boottime = /^\{ sec = ([0-9]+), usec = ([0-9]+) \}/.exec(line);
  if (boottime) return `boottime:${boottime[1]}.${boottime[2]}`;
  return line === "" ? null : line;
}

/** The commands that print the boot id, tried in order, by operating system. */
const SOURCES: Partial<Record<typeof Deno.build.os, readonly (readonly string[])[]>> = {
  // Deno refuses to read /proc/sys without --allow-all, so cat reads it.
  linux: [["/bin/cat", "/proc/sys/kernel/random/boot_id"], [
    "/usr/bin/cat",
    "/proc/sys/kernel/random/boot_id",
  ]],
  // A UUID made at each boot; kern.boottime moves when the clock is set, so it is the fallback.
  darwin: [["/usr/sbin/sysctl", "-n", "kern.bootsessionuuid"], [
    "/usr/sbin/sysctl",
    "-n",
    "kern.boottime",
  ]],
  freebsd: [["/sbin/sysctl", "-n", "kern.boottime"]],
};

/**
 * This boot's id, from the operating system.
 *
 * @returns The id, or null where the system gives none (or it cannot be read).
 */
export async function readBootId(): Promise<string | null> {
  for (const [program, ...args] of SOURCES[Deno.build.os] ?? []) {
    try {
      const { success, stdout } = await new Deno.Command(program!, {
        args,
        stdin: "null",
        stdout: "piped",
        stderr: "null",
      }).output();
      const id = success ? parseBootId(new TextDecoder().decode(stdout)) : null;
      if (id !== null) return id;
    } catch {
      // Not there, or not allowed: try the next source.
    }
  }
  return null;
}
