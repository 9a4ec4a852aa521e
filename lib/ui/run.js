// @ts-check
/**
 * A run's page: when and how it ran, its result, and its full output, followed
 * live while the job runs.
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
import { argumentList, badge, jobHref } from "./jobs.js";
import { followRun, OutputView } from "./output.js";

/** @typedef {import("../protocol/wire.ts").Run} Run */
/** @typedef {import("./app.js").ViewContext} ViewContext */

/**
 * The facts of a run, as a description list.
 *
 * @param {Run} run The run.
 * @param {number} now The current instant.
 * @returns {HTMLElement}
 */
function facts(run, now) {
  const outcome = runOutcome(run);
  /** @type {[string, Node | string][]} */
  const rows = [
    ["Result", badge(outcome.state, outcome.word)],
    ["Exit code", exitWords(run)],
    ["Machine", run.host],
    ["Trigger", triggerWords(run.trigger)],
    [
      "Started",
      h(
        "time",
        { datetime: new Date(run.startedAt).toISOString() },
        formatTime(run.startedAt, now, { seconds: true }),
      ),
    ],
    [
      run.finishedAt === null ? "Running for" : "Duration",
      formatDuration(runDuration(run, now)),
    ],
    ["Arguments", argumentList(run.args)],
  ];
  if (run.scheduledFor !== null && run.trigger === "schedule") {
    rows.splice(4, 0, ["Scheduled for", formatTime(run.scheduledFor, now, { seconds: true })]);
  }
  if (run.error) rows.push(["Error", run.error]);
  return h(
    "dl",
    { class: "facts" },
    ...rows.map(([term, value]) =>
      h(
        "div",
        { class: term === "Arguments" || term === "Error" ? "wide" : null },
        h("dt", {}, term),
        h("dd", {}, value),
      )
    ),
  );
}

/**
 * Shows a run's page.
 *
 * @param {ViewContext} context The view's context.
 * @param {string} runId The run.
 */
export async function showRun(context, runId) {
  const { api, signal } = context;
  const heading = h("h1", { tabindex: -1 }, "Run");
  const crumbs = h(
    "nav",
    { class: "crumbs", "aria-label": "Breadcrumb" },
    h("a", { href: "#/" }, "Jobs"),
  );
  const factsBox = h("div", { class: "card" }, h("p", { class: "muted" }, "Loading…"));
  const status = h("p", { class: "sr-only", role: "status" });
  const output = new OutputView("Output");
  const outputCard = h(
    "section",
    { class: "card", "aria-labelledby": "output-heading" },
    h("h2", { id: "output-heading" }, "Output"),
    output.legend,
    output.element,
  );
  context.main.replaceChildren(crumbs, heading, factsBox, status, outputCard);
  context.focusHeading();

  let wasRunning = false;
  /** @param {Run} run */
  const show = (run) => {
    const label = run.name ?? run.tag;
    context.setTitle(`${label}, ${formatTime(run.startedAt, Date.now())}`);
    heading.textContent = `${label}: run at ${
      formatTime(run.startedAt, Date.now(), { seconds: true })
    }`;
    morph(
      crumbs,
      h(
        "nav",
        { class: "crumbs", "aria-label": "Breadcrumb" },
        h("a", { href: "#/" }, "Jobs"),
        h("a", { href: jobHref(run) }, label),
      ),
    );
    const box = h("div", { class: "card" }, facts(run, Date.now()));
    morph(factsBox, box);
    if (run.finishedAt === null) {
      wasRunning = true;
    } else if (wasRunning) {
      status.textContent = `The run has ended: ${runOutcome(run).text}`;
    }
  };
  try {
    await followRun(api, runId, output, {
      signal,
      onRun: show,
      onProblem: (problem) => context.problem(problem),
    });
  } catch (error) {
    if (signal.aborted) return;
    if (error instanceof ApiError && error.status === 404) {
      heading.textContent = "No such run";
      factsBox.replaceChildren(
        h(
          "p",
          {},
          "The dashboard has no run with this address: it may have been removed under the retention settings. ",
          h("a", { href: "#/" }, "See the jobs."),
        ),
      );
      outputCard.hidden = true;
      return;
    }
    context.failed(error);
  }
}
