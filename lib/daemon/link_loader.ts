/**
 * koid's dashboard link, loaded only once this machine is linked: until
 * `$KOI_DIR/dashboard.json` exists, none of the link's code (the session, the
 * spool, manual-run checks, the protocol) is loaded and none of its timers run;
 * a link made while koid runs is picked up from the watch of `KOI_DIR` or the
 * daemon's minute. Once loaded, the link follows the files itself (relinking and
 * unlinking included) until koid stops.
 *
 * @module
 */

import type { KoiPaths } from "../koidir.ts";
import type { RunEvent } from "./runner.ts";

/** What koid asks of its link: the part of `DashboardLink` (./link.ts) it uses. */
export interface LoadedLink {
  /** Reads the link files and keeps following them, checking them when told each minute. */
  start(options: { ownTimer: false }): Promise<void>;
  /** The daemon's minute. */
  minutely(): void;
  /** A link file changed. */
  requestCheck(): void;
  /** The daemon loaded a table. */
  tableChanged(): void;
  /** A run event, taken synchronously. */
  onEvent(event: RunEvent): void;
  /** Runs a previous koid left unfinished. */
  reportInterrupted(ids: readonly string[], at: number): void;
  /** koid is stopping: no more manual runs. */
  stopManualRuns(): void;
  /** Sends what it can within `flushMs`, then ends. */
  close(flushMs?: number): Promise<void>;
}

/** What the loader needs. */
export interface LinkLoaderOptions {
  /** The `KOI_DIR` paths: `dashboard` says whether this machine is linked. */
  readonly paths: KoiPaths;
  /** Imports the link's code and makes the link (not started). */
  readonly load: () => Promise<LoadedLink>;
  /** koid's log. */
  readonly log: (line: string) => void;
}

/**
 * Holds koid's link, loading it when `dashboard.json` first appears. Until then
 * every call is a no-op, as the link's own are while it is unlinked: run events
 * and interrupted runs are not reported, and no manual run can come.
 *
 * @example Nothing is loaded while the machine is not linked
 * ```ts
 * import { LinkLoader } from "./link_loader.ts";
 * import { koiPaths } from "../koidir.ts";
 *
 * const dir = await Deno.makeTempDir();
 * let loads = 0;
 * const loader = new LinkLoader({
 *   paths: koiPaths(dir),
 *   load: () => {
 *     loads++;
 *     throw new Error("not linked: never called");
 *   },
 *   log: () => {},
 * });
 * await loader.check();
 * loader.tableChanged();
 * if (loads !== 0 || loader.link !== null) throw new Error("loaded");
 * await Deno.remove(dir);
 * ```
 */
export class LinkLoader {
  readonly #options: LinkLoaderOptions;
  #link: LoadedLink | null = null;
  #checking: Promise<void> = Promise.resolve();
  #tableKnown = false;
  #stopping = false;
  #closed = false;

  /** @param options The paths, the loader of the link's code, and the log. */
  constructor(options: LinkLoaderOptions) {
    this.#options = options;
  }

  /** The link, once loaded; null while this machine has never been linked since koid started. */
  get link(): LoadedLink | null {
    return this.#link;
  }

  /**
   * Loads and starts the link if `dashboard.json` exists and it is not loaded yet.
   *
   * @returns When the link is loaded and matches the files, or found not linked.
   */
  check(): Promise<void> {
    this.#checking = this.#checking.then(() => this.#checkNow()).catch((error) => {
      this.#options.log(`dashboard: cannot load the dashboard link: ${(error as Error).message}`);
    });
    return this.#checking;
  }

  /** A link file in `KOI_DIR` changed: the link reads them again, or is loaded. */
  filesChanged(): void {
    if (this.#link !== null) this.#link.requestCheck();
    else void this.check();
  }

  /** The daemon's minute: while not loaded, looks for `dashboard.json`; once loaded, the link's checks. */
  minutely(): void {
    if (this.#link === null) void this.check();
    else this.#link.minutely();
  }

  /** The daemon loaded a table; a link loaded later is told at once. */
  tableChanged(): void {
    this.#tableKnown = true;
    this.#link?.tableChanged();
  }

  /**
   * A run event, for the link if there is one.
   *
   * @param event The event.
   */
  onEvent(event: RunEvent): void {
    this.#link?.onEvent(event);
  }

  /**
   * Runs a previous koid left unfinished, for the link if there is one.
   *
   * @param ids The runs.
   * @param at When they were marked interrupted.
   */
  reportInterrupted(ids: readonly string[], at: number): void {
    this.#link?.reportInterrupted(ids, at);
  }

  /** koid is stopping: no more manual runs, and no link is loaded from now on. */
  stopManualRuns(): void {
    this.#stopping = true;
    this.#link?.stopManualRuns();
  }

  /**
   * Closes the link, if loaded (see `DashboardLink.close`).
   *
   * @param flushMs How long to keep sending reports.
   * @returns When the link has ended.
   */
  async close(flushMs = 0): Promise<void> {
    this.#stopping = this.#closed = true;
    await this.#checking;
    await this.#link?.close(flushMs);
  }

  async #checkNow(): Promise<void> {
    if (this.#link !== null || this.#stopping || this.#closed) return;
    try {
      await Deno.lstat(this.#options.paths.dashboard);
    } catch (error) {
      // Any other error is the link's to report, once loaded.
      if (error instanceof Deno.errors.NotFound) return;
    }
    const link = await this.#options.load();
    this.#link = link;
    if (this.#tableKnown) link.tableChanged();
    await link.start({ ownTimer: false });
    if (this.#stopping) link.stopManualRuns();
  }
}
