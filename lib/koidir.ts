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
  /** What koid's link last heard about this machine's job list, for `koitab -d` (JSON). */
  readonly linkState: string;
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
    linkState: `${base}/link-state.json`,
  };
}
