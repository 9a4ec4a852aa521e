/**
 * Where Koi keeps its state: `KOI_DIR` (default `/var/lib/koi`) and the files in it.
 *
 * @module
 */

/** The default state directory, as on a server installed by `install.sh`. */
export const DEFAULT_KOI_DIR = "/var/lib/koi";

/** The paths of Koi's files in one state directory. */
export interface KoiPaths {
  /** The state directory itself. */
  readonly dir: string;
  /** The job table. */
  readonly koitab: string;
  /** The previous job table, kept by each install or removal. */
  readonly backup: string;
  /** The name of the user jobs run as. */
  readonly user: string;
  /** The run history database. */
  readonly history: string;
  /** The id of the boot `@reboot` jobs last ran in. */
  readonly lastBoot: string;
  /** The dashboard link: `{id, server}` (JSON). */
  readonly dashboard: string;
  /** The dashboard's API key, sent to the server. */
  readonly apiKey: string;
  /** The dashboard's run key, which signs and checks manual runs; never sent. */
  readonly runKey: string;
  /** The dashboard's data key, which encrypts what jobs say and are told; never sent. */
  readonly dataKey: string;
  /** What koid's link last heard about this machine's job list, for `koitab -d` (JSON). */
  readonly linkState: string;
  /** What koid works around (a history it cannot write, …), for `koitab` (JSON). */
  readonly koidState: string;
}

/**
 * The paths of Koi's files under `dir`.
 *
 * @param dir The state directory; `KOI_DIR` or `/var/lib/koi` as the caller reads it.
 * @returns The paths.
 */
export function koiPaths(dir: string): KoiPaths {
  const base = dir.length > 1 ? dir.replace(/\/+$/, "") : dir;
  return {
    dir: base,
    koitab: `${base}/koitab`,
    backup: `${base}/koitab.bak`,
    user: `${base}/user`,
    history: `${base}/history.db`,
    lastBoot: `${base}/last-boot`,
    dashboard: `${base}/dashboard.json`,
    apiKey: `${base}/apikey`,
    runKey: `${base}/runkey`,
    dataKey: `${base}/datakey`,
    linkState: `${base}/link-state.json`,
    koidState: `${base}/koid-state.json`,
  };
}

/**
 * Makes sure `dir` can serve as `KOI_DIR`, or says exactly why not: a file where
 * the directory should be (or on its path), or a directory this process may not
 * enter. A missing directory is created, mode 0700, when `create` is set, and
 * left for the caller otherwise (`koitab -l` then finds no table).
 *
 * @param dir The state directory.
 * @param options Whether to create it when missing.
 * @returns When it is usable.
 * @throws {Error} Saying what is wrong with it and what to do.
 */
export async function prepareKoiDir(dir: string, options: { create: boolean }): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(dir);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      if (!options.create) return;
      try {
        await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
        return;
      } catch (cause) {
        throw new Error(`cannot create KOI_DIR ${dir}: ${(cause as Error).message}`);
      }
    }
    if (error instanceof Deno.errors.NotADirectory) {
      const file = await fileOnPath(dir);
      throw new Error(
        `KOI_DIR ${dir} cannot exist: ${
          file ?? "a part of its path"
        } is a file, not a directory (set KOI_DIR to a directory)`,
      );
    }
    if (error instanceof Deno.errors.PermissionDenied) {
      throw new Error(
        `cannot reach KOI_DIR ${dir}: a directory above it may not be entered by ${whoAmI()}`,
      );
    }
    throw new Error(`cannot use KOI_DIR ${dir}: ${(error as Error).message}`);
  }
  if (!info.isDirectory) {
    throw new Error(
      `KOI_DIR ${dir} is a file, not a directory: set KOI_DIR to a directory (the default is ${DEFAULT_KOI_DIR})`,
    );
  }
  try {
    // Looking up any name in it needs the right to enter it; whether the file exists does not matter.
    await Deno.stat(`${dir}/koitab`);
  } catch (error) {
    if (!(error instanceof Deno.errors.PermissionDenied)) return;
    const mode = ((info.mode ?? 0) & 0o777).toString(8).padStart(4, "0");
    throw new Error(
      `cannot enter KOI_DIR ${dir}: it belongs to uid ${info.uid} with mode ${mode}, and this runs as ${whoAmI()} (run as its owner, or set KOI_DIR to a directory of yours)`,
    );
  }
}

function whoAmI(): string {
  return `uid ${Deno.uid() ?? "unknown"}`;
}

/** The first path above and including `path` that is a file, or null. */
async function fileOnPath(path: string): Promise<string | null> {
  const parts = path.split("/");
  for (let end = 1; end <= parts.length; end++) {
    const prefix = parts.slice(0, end).join("/");
    if (prefix === "") continue;
    const info = await Deno.stat(prefix).catch(() => null);
    if (info !== null && !info.isDirectory) return prefix;
  }
  return null;
}
