// @ts-check
/**
 * A job's page: what it is, the form that runs it (for `@manual` jobs), and its
 * history: a plot of durations and outcomes and a table of runs, each opening
 * its output. Refreshed every few seconds.
 *
 * @module
 */

import { h, morph } from "./dom.js";
import {
  argumentWords,
  exitWords,
  formatDuration,
  formatTime,
  runDuration,
  runOutcome,
  triggerWords,
} from "./format.js";
import { badge, cell, jobLabel } from "./jobs.js";
import { manualRunSection } from "./manual.js";
import { runsPlot } from "./plot.js";
import { every } from "./poll.js";

/** @typedef {import("./api.js").Api} Api */
/** @typedef {import("./api.js").JobRow} JobRow */
/** @typedef {import("../schema.ts").Run} Run */
/** @typedef {import("./app.js").ViewContext} ViewContext */

/** How often the page asks for new runs. */
const REFRESH_MS = 4000;
/** Runs per page of history. */
const PAGE_SIZE = 50;

/**
 * The runs table.
 *
 * @param {readonly Run[]} runs Newest first.
 * @param {number} now The current instant.
 * @returns {HTMLElement}
 */
function runsTable(runs, now) {
  if (runs.length === 0) return h("p", { class: "muted" }, "No runs yet.");

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
      h(
        "tbody",
        {},
        ...runs.map((run) => {
          const outcome = runOutcome(run);
          const words = argumentWords(run.args);
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
            cell(
              "Arguments",
              words.length === 0
                ? h("span", { class: "muted" }, "none")
                : h("code", { class: "args" }, words.join(" ")),
            ),
            cell("Result", badge(outcome.state, outcome.word)),
            cell("Exit code", exitWords(run)),
            cell("Duration", formatDuration(runDuration(run, now))),
          );
        }),
      ),
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
 * @returns {HTMLElement}
 */
function header(job, host, tag, newest) {
  const title = job ? jobLabel(job) : newest?.name ?? tag;
  const section = job?.section ?? newest?.section ?? null;
  return h(
    "div",
    { class: "job-header" },
    h(
      "nav",
      { class: "crumbs", "aria-label": "Breadcrumb" },
      h("a", { href: "#/" }, "Jobs"),
      section === null ? null : h("span", {}, section),
    ),
    h("h1", { tabindex: -1, class: job?.name === null ? "command" : null }, title),
    job === undefined
      ? h(
        "p",
        { class: "notice" },
        `This job is no longer in the koitab of ${host}; its past runs are below.`,
      )
      : h(
        "div",
        { class: "job-facts" },
        badge(job.state),
        h("span", {}, "on ", h("strong", {}, host)),
        h("span", {}, job.description || job.schedule),
        h("code", { class: "schedule" }, job.schedule),
        job.timezone && !job.schedule.startsWith("@")
          ? h("span", { class: "muted" }, job.timezone)
          : null,
      ),
    job === undefined ? null : h(
      "details",
      { class: "command-box" },
      h("summary", {}, "Command", h("span", { class: "muted" }, ` (koitab line ${job.line})`)),
      h("pre", { class: "command-text" }, job.command),
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

  /** @type {Run[]} */
  let older = [];
  /** @type {Run[]} */
  let runs = [];
  let formBuilt = false;
  let reachedEnd = false;

  const draw = () => {
    const now = Date.now();
    const all = [...runs, ...older.filter((run) => !runs.some((r) => r.id === run.id))];
    const plot = all.length === 0 ? "" : runsPlot(all, now, plotBox.clientWidth || 640, "plot");
    const holder = h("div", { class: "plot-box" }, plot);
    morph(plotBox, holder);
    morph(tableBox, h("div", {}, runsTable(all, now)));
    more.hidden = reachedEnd || all.length < PAGE_SIZE;
  };

  more.addEventListener("click", async () => {
    const oldest = [...runs, ...older].reduce(
      (min, run) => Math.min(min, run.startedAt),
      Infinity,
    );
    more.disabled = true;
    try {
      const page = await api.runs({ host, tag, limit: PAGE_SIZE, before: oldest }, signal);
      reachedEnd = page.length < PAGE_SIZE;
      older = [...older, ...page];
      draw();
    } catch (error) {
      context.failed(error);
    } finally {
      more.disabled = false;
    }
  });

  globalThis.addEventListener("resize", draw, { signal });

  const refresh = every(
    async () => {
      const [jobs, latest] = await Promise.all([
        api.jobs(signal),
        api.runs({ host, tag, limit: PAGE_SIZE }, signal),
      ]);
      context.problem(null);
      const job = jobs.find((candidate) => candidate.host === host && candidate.tag === tag);
      runs = latest;
      const label = job ? jobLabel(job) : latest[0]?.name ?? tag;
      context.setTitle(label);
      const fresh = header(job, host, tag, latest[0]);
      const current = top.firstElementChild;
      if (current === null || !current.classList.contains("job-header")) {
        top.replaceChildren(fresh);
        context.focusHeading();
      } else {
        morph(current, fresh);
      }
      if (!formBuilt && job !== undefined && job.schedule === "@manual") {
        formBuilt = true;
        const twins = jobs.filter((candidate) =>
          candidate.tag === job.tag && candidate.name === job.name &&
          candidate.schedule === "@manual"
        );
        manualSlot.replaceChildren(manualRunSection({
          api,
          runKey: context.runKey,
          jobs: twins,
          host,
          label,
          signal,
          onChange: () => refresh.now(),
        }));
      }
      draw();
    },
    REFRESH_MS,
    signal,
    context.failed,
  );
  await refresh.done;
}
