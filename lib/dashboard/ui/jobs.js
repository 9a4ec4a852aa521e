// @ts-check
/**
 * The jobs view: every job of every host in one table, grouped by section and
 * host (each group a row group with its own header), with its schedule in
 * words, its next run, its last run's outcome and duration. It is rebuilt every
 * few seconds and morphed into place, so the focus stays put.
 *
 * @module
 */

import { h, morph, srOnly } from "./dom.js";
import {
  formatDuration,
  formatRelative,
  formatTime,
  runDuration,
  runOutcome,
  STATE_WORDS,
} from "./format.js";
import { every } from "./poll.js";

/** @typedef {import("./api.js").JobRow} JobRow */
/** @typedef {import("./api.js").HostInfo} HostInfo */
/** @typedef {import("../job_view.ts").JobState} JobState */

/** A host unheard of for this long is shown as possibly down. */
const QUIET_MS = 3 * 60_000;

/** The glyph beside each state's word, so that colour is never the only sign. */
const STATE_GLYPHS = /** @type {const} */ ({
  ok: "✓",
  failed: "✕",
  running: "●",
  late: "!",
  never: "–",
});

/**
 * A state badge: glyph and word.
 *
 * @param {JobState} state The state.
 * @param {string} [text] The words, when not the state's own.
 * @returns {HTMLElement}
 */
export function badge(state, text = STATE_WORDS[state]) {
  return h(
    "span",
    { class: `badge ${state}` },
    h("span", { class: "glyph", "aria-hidden": "true" }, STATE_GLYPHS[state]),
    text,
  );
}

/**
 * What the page calls a job: its name, else its command.
 *
 * @param {Pick<JobRow, "name" | "command">} job The job.
 * @returns {string}
 */
export function jobLabel(job) {
  if (job.name !== null) return job.name;
  return job.command.length > 80 ? `${job.command.slice(0, 79)}…` : job.command;
}

/**
 * The link to a job's page.
 *
 * @param {Pick<JobRow, "host" | "tag">} job The job.
 * @returns {string}
 */
export function jobHref(job) {
  return `#/job/${encodeURIComponent(job.host)}/${encodeURIComponent(job.tag)}`;
}

/**
 * The next-run cell's content.
 *
 * @param {JobRow} job The job.
 * @param {number} now The current instant.
 * @returns {(Node | string)[]}
 */
function nextRun(job, now) {
  if (job.schedule === "@manual") return [h("span", { class: "muted" }, "when started")];
  if (job.schedule === "@reboot") return [h("span", { class: "muted" }, "when koid starts")];
  const next = job.next.map((iso) => Date.parse(iso)).find((at) => at > now - 1000);
  if (next === undefined) return [h("span", { class: "muted" }, "no more runs")];
  return [
    h("time", { datetime: new Date(next).toISOString() }, formatTime(next, now)),
    h("span", { class: "relative" }, formatRelative(next, now)),
  ];
}

/**
 * The last-run cell's content: the state badge and when.
 *
 * @param {JobRow} job The job.
 * @param {number} now The current instant.
 * @returns {(Node | string)[]}
 */
function lastRun(job, now) {
  const run = job.lastRun;
  const parts = [];
  if (job.state === "late" && job.due !== null) {
    const due = Date.parse(job.due);
    parts.push(
      badge("late"),
      h("span", { class: "relative" }, `due ${formatTime(due, now)}, ${formatRelative(due, now)}`),
    );
  } else if (run === null) {
    parts.push(badge("never"));
  } else {
    parts.push(
      h(
        "a",
        { href: `#/run/${encodeURIComponent(run.id)}`, class: "badge-link" },
        badge(job.state, runOutcome(run).text),
        srOnly(`, ${formatTime(run.startedAt, now)}`),
      ),
      h("span", { class: "relative", "aria-hidden": "true" }, formatRelative(run.startedAt, now)),
    );
  }
  return parts;
}

/**
 * A table cell, named for narrow screens (where each row is a card of labelled
 * lines), its content in one wrapper.
 *
 * @param {string} label The column's name.
 * @param {...(Node | string)} content The content.
 * @returns {HTMLTableCellElement}
 */
export function cell(label, ...content) {
  return h(
    "td",
    { "data-label": label, class: label === "Duration" || label === "Exit code" ? "number" : null },
    h("div", { class: "cell" }, ...content),
  );
}

/** The columns of the jobs tables, shared by all so that they line up. */
const COLUMNS = ["Job", "Schedule", "Next run", "Last run", "Duration"];

/**
 * One job's row.
 *
 * @param {JobRow} job The job.
 * @param {number} now The current instant.
 * @returns {HTMLTableRowElement}
 */
function jobRow(job, now) {
  const label = jobLabel(job);
  const run = job.lastRun;
  return h(
    "tr",
    { "data-key": `${job.host}/${job.tag}`, class: `job ${job.state}` },
    h(
      "th",
      { scope: "row", class: "job-name" },
      h(
        "a",
        { href: jobHref(job), class: job.name === null ? "command" : null },
        label,
      ),
      job.schedule === "@manual"
        ? h(
          "a",
          { href: jobHref(job), class: "button small", "aria-label": `Run ${label}…` },
          "Run…",
        )
        : null,
    ),
    cell(
      "Schedule",
      h("span", { class: "description" }, job.description || job.schedule),
      h("code", { class: "schedule" }, job.schedule),
    ),
    cell("Next run", ...nextRun(job, now)),
    cell("Last run", ...lastRun(job, now)),
    cell(
      "Duration",
      run === null
        ? h("span", { class: "muted" }, "–")
        : `${formatDuration(runDuration(run, now))}${run.finishedAt === null ? " so far" : ""}`,
    ),
  );
}

/**
 * A line of counts: "5 jobs on 2 hosts: 3 ok, 1 failed, 1 never run".
 *
 * @param {readonly JobRow[]} jobs The jobs.
 * @param {number} hostCount How many hosts.
 * @returns {HTMLElement}
 */
function summary(jobs, hostCount) {
  /** @type {JobState[]} */
  const order = ["failed", "late", "running", "ok", "never"];
  const counts = order
    .map((state) => /** @type {const} */ ([state, jobs.filter((j) => j.state === state).length]))
    .filter(([, count]) => count > 0);
  return h(
    "p",
    { class: "summary" },
    `${jobs.length} job${jobs.length === 1 ? "" : "s"} on ${hostCount} host${
      hostCount === 1 ? "" : "s"
    }`,
    ...counts.map(([state, count]) =>
      h("span", { class: `count ${state}` }, badge(state, `${count} ${STATE_WORDS[state]}`))
    ),
  );
}

/**
 * The jobs view's content, built afresh (the caller morphs it into place).
 *
 * @param {readonly JobRow[]} jobs Every job, by host and line.
 * @param {readonly HostInfo[]} hosts The hosts.
 * @param {number} now The current instant.
 * @returns {HTMLElement}
 */
export function jobsContent(jobs, hosts, now) {
  if (jobs.length === 0) {
    return h(
      "div",
      { class: "card empty-state" },
      h("h2", {}, "No jobs yet"),
      h(
        "p",
        {},
        "Jobs appear here when koid on a linked machine sends its koitab. On each machine, run ",
        h("code", {}, "koitab -d join URL"),
        " with this page's address, and make sure koid is running.",
      ),
    );
  }
  /** @type {Map<string, Map<string, JobRow[]>>} */
  const sections = new Map();
  for (const job of jobs) {
    const section = job.section ?? "";
    const byHost = sections.get(section) ?? new Map();
    sections.set(section, byHost);
    byHost.set(job.host, [...(byHost.get(job.host) ?? []), job]);
  }
  const seen = new Map(hosts.map((host) => [host.host, host.lastSeenAt]));
  const sectionKeys = [...sections.keys()].sort((a, b) =>
    a === "" ? -1 : b === "" ? 1 : a.localeCompare(b)
  );
  const groups = sectionKeys.flatMap((section) => {
    const byHost = /** @type {Map<string, JobRow[]>} */ (sections.get(section));
    return [...byHost.keys()].sort().map((host) => {
      const lastSeen = seen.get(host) ?? null;
      const quiet = lastSeen === null || now - lastSeen > QUIET_MS;
      return h(
        "tbody",
        { "data-key": `${section}\n${host}` },
        h(
          "tr",
          { class: "group" },
          h(
            "th",
            { colspan: COLUMNS.length, scope: "rowgroup" },
            h("span", { class: "section-name" }, section === "" ? "No section" : section),
            h("span", { class: "host" }, srOnly(", on "), host),
            h(
              "span",
              { class: quiet ? "seen quiet" : "seen" },
              srOnly(", "),
              lastSeen === null
                ? "not heard from yet"
                : now - lastSeen < 5000
                ? "seen just now"
                : `seen ${formatRelative(lastSeen, now)}`,
            ),
          ),
        ),
        ...(/** @type {JobRow[]} */ (byHost.get(host))).map((job) => jobRow(job, now)),
      );
    });
  });
  return h(
    "div",
    { class: "jobs" },
    summary(jobs, new Set(jobs.map((job) => job.host)).size),
    h(
      "div",
      { class: "table-card" },
      h(
        "table",
        { class: "jobs-table" },
        h("caption", { class: "sr-only" }, "Jobs by section and host"),
        h("colgroup", {}, ...COLUMNS.map((_, i) => h("col", { class: `column-${i}` }))),
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            ...COLUMNS.map((name, i) =>
              h("th", { scope: "col", class: i === 4 ? "number" : null }, name)
            ),
          ),
        ),
        ...groups,
      ),
    ),
  );
}

/**
 * A notice for each host whose last job list the server refused: what the page
 * shows of that host's jobs is out of date, and this says why.
 *
 * @param {readonly HostInfo[]} hosts The hosts.
 * @param {number} now The current instant.
 * @returns {HTMLElement[]}
 */
export function refusedJobLists(hosts, now) {
  return hosts.flatMap(({ host, jobListRefused: refused }) => {
    if (refused === null) return [];
    const when = formatRelative(refused.at, now);
    return [h(
      "p",
      { class: "notice", role: "status", "data-key": `refused ${host}` },
      `The job list of ${host} is out of date: the server refused the list koid sent ${
        when === "now" ? "just now" : when
      } (${refused.reason}).`,
    )];
  });
}

/** How often the jobs view refreshes. */
const REFRESH_MS = 5000;

/**
 * Shows the jobs view, refreshed every few seconds.
 *
 * @param {import("./app.js").ViewContext} context The view's context.
 * @returns {Promise<void>} Settles when the view is left.
 */
export async function showJobs(context) {
  const { api, signal } = context;
  const updated = h("p", { class: "updated muted", "aria-live": "off" });
  const content = h("div", {}, h("p", { class: "muted" }, "Loading jobs…"));
  context.main.replaceChildren(
    h("div", { class: "page-head" }, h("h1", { tabindex: -1 }, "Jobs"), updated),
    content,
  );
  context.setTitle("Jobs");
  context.focusHeading();
  await every(
    async () => {
      const [info, jobs] = await Promise.all([api.info(signal), api.jobs(signal)]);
      context.problem(null);
      const now = Date.now();
      morph(
        content,
        h("div", {}, ...refusedJobLists(info.hosts, now), jobsContent(jobs, info.hosts, now)),
      );
      updated.textContent = `Updated ${formatTime(now, now, { seconds: true })}`;
    },
    REFRESH_MS,
    signal,
    context.failed,
  ).done;
}
