// @ts-check
/**
 * A job's page: what it is, the form that runs it (for `@manual` jobs, following
 * the job list), and its history: a plot of durations and outcomes and a table
 * of runs, each opening its output, with the manual runs that never started
 * (refused with koid's reason, cancelled, still waiting) among them. Refreshed
 * every few seconds.
 *
 * @module
 */

import { ApiError } from "./api.js";
import { h, morph } from "./dom.js";
import {
  exitWords,
  formatDuration,
  formatTime,
  runDuration,
  runOutcome,
  triggerWords,
} from "./format.js";
import { argumentList, badge, cell, jobLabel, jobZone } from "./jobs.js";
import { ManualRunForm } from "./manual.js";
import { runsPlot } from "./plot.js";
import { every } from "./poll.js";
import { scheduleKind } from "../protocol/job_kind.js";

/** @typedef {import("./api.js").Api} Api */
/** @typedef {import("./api.js").JobRow} JobRow */
/** @typedef {import("../protocol/wire.ts").Run} Run */
/** @typedef {import("../protocol/wire.ts").ManualRun} ManualRun */
/** @typedef {import("./app.js").ViewContext} ViewContext */

/** How often the page asks for new runs. */
const REFRESH_MS = 4000;
/** Runs per page of history. */
const PAGE_SIZE = 50;

/**
 * A manual run that did not start, as its history row shows it.
 *
 * @param {ManualRun} manual The manual run.
 * @returns {{ badge: HTMLElement, detail: string | null }}
 */
function manualOutcome(manual) {
  switch (manual.state) {
    case "refused":
      return {
        badge: badge("failed", "refused"),
        detail: `${manual.host} refused to run it: ${manual.reason ?? "no reason given"}`,
      };
    case "cancelled":
      return { badge: badge("never", "cancelled"), detail: "Cancelled before it started." };
    case "claimed":
      return { badge: badge("running", "starting"), detail: `${manual.host} took it.` };
    default:
      return { badge: badge("running", "waiting"), detail: `Waiting for ${manual.host}.` };
  }
}

/**
 * A row of the history: a run, or a manual run that did not start.
 *
 * @param {{ run: Run } | { manual: ManualRun }} entry The entry.
 * @param {number} now The current instant.
 * @returns {HTMLTableRowElement}
 */
function historyRow(entry, now) {
  if ("run" in entry) {
    const { run } = entry;
    const outcome = runOutcome(run);
    return h(
      "tr",
      { "data-key": run.id },
      h(
        "th",
        { scope: "row" },
        h(
          "a",
          { href: `#/run/${encodeURIComponent(run.id)}` },
          h(
            "time",
            { datetime: new Date(run.startedAt).toISOString() },
            formatTime(run.startedAt, now, { seconds: true }),
          ),
        ),
      ),
      cell("Trigger", triggerWords(run.trigger)),
      cell("Arguments", argumentList(run.args)),
      cell("Result", badge(outcome.state, outcome.word)),
      cell("Exit code", exitWords(run)),
      cell("Duration", formatDuration(runDuration(run, now))),
    );
  }
  const { manual } = entry;
  const outcome = manualOutcome(manual);
  return h(
    "tr",
    { "data-key": `manual-${manual.id}`, class: "unstarted" },
    h(
      "th",
      { scope: "row" },
      h(
        "time",
        { datetime: new Date(manual.queuedAt).toISOString() },
        formatTime(manual.queuedAt, now, { seconds: true }),
      ),
      h("span", { class: "time-word" }, " requested"),
    ),
    cell("Trigger", triggerWords("manual")),
    cell("Arguments", argumentList(manual.args)),
    h(
      "td",
      { "data-label": "Result", colspan: 3 },
      h(
        "div",
        { class: "cell" },
        outcome.badge,
        h("span", { class: "reason" }, outcome.detail),
        manual.state === "queued"
          ? h(
            "button",
            { type: "button", class: "secondary small", "data-cancel": manual.id },
            "Cancel",
          )
          : null,
      ),
    ),
  );
}

/**
 * The history table.
 *
 * @param {readonly ({ at: number, run: Run } | { at: number, manual: ManualRun })[]} entries
 *   Newest first.
 * @param {number} now The current instant.
 * @returns {HTMLElement}
 */
function historyTable(entries, now) {
  if (entries.length === 0) return h("p", { class: "muted" }, "No runs yet.");
  return h(
    "div",
    { class: "table-card" },
    h(
      "table",
      { class: "runs-table" },
      h("caption", { class: "sr-only" }, "Runs, newest first"),
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          h("th", { scope: "col" }, "Started"),
          h("th", { scope: "col" }, "Trigger"),
          h("th", { scope: "col" }, "Arguments"),
          h("th", { scope: "col" }, "Result"),
          h("th", { scope: "col", class: "number" }, "Exit code"),
          h("th", { scope: "col", class: "number" }, "Duration"),
        ),
      ),
      h("tbody", {}, ...entries.map((entry) => historyRow(entry, now))),
    ),
  );
}

/**
 * The job's header: name, state, where and when it runs, its command.
 *
 * @param {JobRow | undefined} job The job, or undefined if its host no longer lists it.
 * @param {string} host The host.
 * @param {string} tag The tag.
 * @param {Run | undefined} newest Its newest run, to name a job that is gone.
 * @param {number} now The current instant.
 * @param {"host" | "job" | null | undefined} muted What mutes its alerts; undefined while unknown.
 * @returns {HTMLElement}
 */
function header(job, host, tag, newest, now, muted) {
  const title = job ? jobLabel(job) : newest?.name ?? tag;
  const section = job?.section ?? newest?.section ?? null;
  const zone = job === undefined ? null : jobZone(job, now);
  return h(
    "div",
    { class: "job-header" },
    h(
      "nav",
      { class: "crumbs", "aria-label": "Breadcrumb" },
      h("a", { href: "#/" }, "Jobs"),
      section === null ? null : h("span", {}, `Section ${section}`),
      h("span", {}, `Machine ${host}`),
    ),
    h("h1", { tabindex: -1, class: job?.name === null ? "command" : null }, title),
    job === undefined
      ? h(
        "p",
        { class: "notice" },
        `This job is no longer set up on ${host}; its past runs are below.`,
      )
      : h(
        "div",
        { class: "job-facts" },
        badge(job.state),
        h("span", {}, "on ", h("strong", {}, host)),
        h("span", {}, job.description || job.schedule),
        zone === null ? null : h("span", { class: "zone" }, `${zone} time`),
        h("code", { class: "schedule" }, job.schedule),
      ),
    job === undefined ? null : muteControl(host, muted),
    job === undefined ? null : h(
      "details",
      { class: "command-box" },
      h("summary", {}, "Command"),
      h("pre", { class: "command-text" }, job.command),
      h("p", { class: "muted" }, `Line ${job.line} of the koitab on ${host}.`),
    ),
  );
}

/**
 * Whether the job's alerts are muted, with the button that changes it. A mute of
 * the whole machine is lifted in the Alerts view, which lists it.
 *
 * @param {string} host The job's machine.
 * @param {"host" | "job" | null | undefined} muted What mutes its alerts; undefined while unknown.
 * @returns {HTMLElement | null}
 */
function muteControl(host, muted) {
  if (muted === undefined) return null;
  if (muted === "host") {
    return h(
      "p",
      { class: "mute-state muted" },
      `Alerts are muted for every job on ${host}: `,
      h("a", { href: "#/alerts" }, "unmute the machine in Alerts"),
      ".",
    );
  }
  return h(
    "p",
    { class: "mute-state muted" },
    muted === "job" ? "Alerts are muted for this job. " : null,
    h(
      "button",
      { type: "button", class: "secondary small", "data-mute": muted === "job" ? "off" : "on" },
      muted === "job" ? "Unmute alerts" : "Mute alerts",
    ),
  );
}

/**
 * Shows a job's page.
 *
 * @param {ViewContext} context The view's context.
 * @param {string} host The host.
 * @param {string} tag The job's tag.
 */
export async function showJob(context, host, tag) {
  const { api, signal } = context;
  const top = h("div", {}, h("h1", { tabindex: -1 }, "Loading…"));
  const manualSlot = h("div");
  const plotBox = h("div", { class: "plot-box" });
  const tableBox = h("div");
  const more = h("button", { type: "button", class: "secondary", hidden: true }, "Show older runs");
  const history = h(
    "section",
    { class: "card history", "aria-labelledby": "history-heading" },
    h("h2", { id: "history-heading" }, "History"),
    plotBox,
    tableBox,
    more,
  );
  context.main.replaceChildren(top, manualSlot, history);
  context.focusHeading();

  // The newest page of each list, fetched on each refresh, and the older pages
  // the reader asked for. Each list covers the time from its floor on (-Infinity:
  // all of it); the table shows what both cover, so neither has a gap.
  /** @type {Run[]} */
  let runs = [];
  /** @type {Run[]} */
  let olderRuns = [];
  /** @type {ManualRun[]} */
  let manuals = [];
  /** @type {ManualRun[]} */
  let olderManuals = [];
  let runsFloor = -Infinity;
  let manualsFloor = -Infinity;
  /** @type {ManualRunForm | null} */
  let form = null;

  const draw = () => {
    const now = Date.now();
    const allRuns = dedupe([...runs, ...olderRuns]);
    const floor = Math.max(runsFloor, manualsFloor);
    /** @type {({ at: number, run: Run } | { at: number, manual: ManualRun })[]} */
    const entries = [
      ...allRuns.map((run) => ({ at: run.startedAt, run })),
      ...dedupe([...manuals, ...olderManuals])
        .filter((manual) => manual.state !== "started")
        .map((manual) => ({ at: manual.queuedAt, manual })),
    ].filter((entry) => entry.at >= floor).sort((a, b) => b.at - a.at);
    const shownRuns = allRuns.filter((run) => run.startedAt >= floor);
    const plot = shownRuns.length === 0
      ? ""
      : runsPlot(shownRuns, now, plotBox.clientWidth || 640, "plot");
    morph(plotBox, h("div", { class: "plot-box" }, plot));
    morph(tableBox, h("div", {}, historyTable(entries, now)));
    more.hidden = floor === -Infinity;
  };

  more.addEventListener("click", async () => {
    more.disabled = true;
    try {
      const [olderRunsPage, olderManualsPage] = await Promise.all([
        runsFloor === -Infinity
          ? []
          : api.runs({ host, tag, limit: PAGE_SIZE, before: runsFloor }, signal),
        manualsFloor === -Infinity
          ? []
          : api.manualRuns({ host, tag, limit: PAGE_SIZE, before: manualsFloor }, signal),
      ]);
      if (runsFloor !== -Infinity) {
        olderRuns = [...olderRuns, ...olderRunsPage];
        runsFloor = floorOf(olderRunsPage, (run) => run.startedAt);
      }
      if (manualsFloor !== -Infinity) {
        olderManuals = [...olderManuals, ...olderManualsPage];
        manualsFloor = floorOf(olderManualsPage, (manual) => manual.queuedAt);
      }
      draw();
    } catch (error) {
      context.failed(error);
    } finally {
      more.disabled = false;
    }
  });

  tableBox.addEventListener("click", async (event) => {
    const button = /** @type {Element} */ (event.target).closest("button[data-cancel]");
    if (!(button instanceof HTMLButtonElement)) return;
    button.disabled = true;
    try {
      await api.cancelManual(/** @type {string} */ (button.dataset.cancel));
    } catch (error) {
      // Taken meanwhile: the refresh shows what became of it.
      if (!(error instanceof ApiError && error.status === 409)) context.failed(error);
    }
    refresh.now();
  });

  globalThis.addEventListener("resize", draw, { signal });

  top.addEventListener("click", async (event) => {
    const button = /** @type {Element} */ (event.target).closest("button[data-mute]");
    if (!(button instanceof HTMLButtonElement)) return;
    button.disabled = true;
    try {
      await context.mutes.set(host, tag, button.dataset.mute === "on");
    } catch (error) {
      context.failed(error);
    }
    refresh.now();
  });

  const refresh = every(
    async () => {
      const [, latest, latestManuals, mutesRead] = await Promise.all([
        context.feed.update(),
        api.runs({ host, tag, limit: PAGE_SIZE }, signal),
        api.manualRuns({ host, tag, limit: PAGE_SIZE }, signal),
        // A server without alerts (404) has no mutes to show.
        context.mutes.refresh(signal).then(() => true, () => false),
      ]);
      const jobs = context.feed.jobs;
      const listed = jobs.find((candidate) => candidate.host === host && candidate.tag === tag);
      const job = listed && (await context.feed.withCommands([listed]))[0];
      context.problem(null);
      const now = Date.now();
      runs = latest;
      manuals = latestManuals;
      if (olderRuns.length === 0) runsFloor = floorOf(latest, (run) => run.startedAt);
      if (olderManuals.length === 0) {
        manualsFloor = floorOf(latestManuals, (manual) => manual.queuedAt);
      }
      const label = job ? jobLabel(job) : latest[0]?.name ?? tag;
      context.setTitle(label);
      const muted = mutesRead ? context.mutes.mutedFor(host, tag) : undefined;
      const fresh = header(job, host, tag, latest[0], now, muted);
      const current = top.firstElementChild;
      if (current === null || !current.classList.contains("job-header")) {
        top.replaceChildren(fresh);
        context.focusHeading();
      } else {
        morph(current, fresh);
      }
      // The same job (tag and name) on every machine that offers it as a manual job now.
      const reference = job ?? jobs.find((candidate) => candidate.tag === tag);
      const twins = jobs.filter((candidate) =>
        scheduleKind(candidate.schedule) === "manual" && candidate.tag === tag &&
        candidate.name === (reference?.name ?? candidate.name)
      );
      if (form === null && job !== undefined && scheduleKind(job.schedule) === "manual") {
        form = new ManualRunForm({
          api,
          runKey: context.runKey,
          host,
          label,
          signal,
          onChange: () => refresh.now(),
        });
        manualSlot.replaceChildren(form.element);
      }
      form?.update(twins);
      draw();
    },
    REFRESH_MS,
    signal,
    context.failed,
  );
  await refresh.done;
}

/**
 * The earliest time a page of a list covers: -Infinity when the page is not
 * full (the list has nothing older), else its oldest item's time.
 *
 * @template T
 * @param {readonly T[]} page A page, newest first.
 * @param {(item: T) => number} at An item's time.
 * @returns {number}
 */
function floorOf(page, at) {
  return page.length < PAGE_SIZE ? -Infinity : Math.min(...page.map(at));
}

/**
 * Items by id, each once (the first kept).
 *
 * @template {{ id: string }} T
 * @param {readonly T[]} items The items.
 * @returns {T[]}
 */
function dedupe(items) {
  const seen = new Set();
  return items.filter((item) => !seen.has(item.id) && seen.add(item.id));
}
