// @ts-check
/**
 * The jobs view: every job of every host in one table, grouped by section, then
 * by machine within it (each section a row group under its own heading, each
 * machine a sub-heading), with its schedule in words, its next run, its last
 * run's outcome and duration. Every few seconds it asks what changed
 * (`jobs_feed.js`) and morphs the rows in view into place, so the focus stays put;
 * a long table is shown a window at a time (`window.js`), with a filter. Also the
 * small pieces the other views share: state badges, job labels and links,
 * argument lists.
 *
 * @module
 */

import { h, morph, srOnly } from "./dom.js";
import {
  argumentWords,
  formatDuration,
  formatRelative,
  formatTime,
  runDuration,
  runOutcome,
  STATE_WORDS,
  viewerZone,
  warmFormatters,
  zonesAgree,
} from "./format.js";
import { every } from "./poll.js";
import { WindowedTable } from "./window.js";
import { scheduleKind } from "../protocol/job_kind.js";
import { compareSections } from "../protocol/job_order.js";

/** @typedef {import("./api.js").JobRow} JobRow */
/** @typedef {import("./api.js").HostInfo} HostInfo */
/** @typedef {import("../protocol/wire.ts").JobState} JobState */

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
 * A run's argument values, each `name=value` kept whole on its line (a long one
 * wraps only when it cannot fit a line of its own).
 *
 * @param {Readonly<Record<string, string | number | boolean>>} args The values.
 * @returns {HTMLElement}
 */
export function argumentList(args) {
  const words = argumentWords(args);
  if (words.length === 0) return h("span", { class: "muted" }, "none");
  return h(
    "span",
    { class: "args" },
    ...words.flatMap((word, i) => [i === 0 ? null : " ", h("code", { class: "arg" }, word)]),
  );
}

/**
 * The job's zone, when its schedule's times read differently in the viewer's:
 * the words "every day at 02:30" are in the job's zone.
 *
 * @param {Pick<JobRow, "schedule" | "timezone" | "nextRun">} job The job.
 * @param {number} now The current instant.
 * @returns {string | null} The zone to name, or null.
 */
export function jobZone(job, now) {
  if (job.timezone === null || job.schedule.startsWith("@")) return null;
  const at = job.nextRun === null ? now : Date.parse(job.nextRun);
  return zonesAgree(job.timezone, viewerZone(), at) ? null : job.timezone;
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
 * The next-run cell's content. A silent machine's job shows no next run (it
 * will not run while nothing is heard from there) but that its machine is
 * silent, and when the run it owes is or was due.
 *
 * @param {JobRow} job The job.
 * @param {number} now The current instant.
 * @param {HostInfo | undefined} info Its machine.
 * @returns {(Node | string)[]}
 */
function nextRun(job, now, info) {
  const kind = scheduleKind(job.schedule);
  if (kind === "manual") return [h("span", { class: "muted" }, "when started")];
  if (kind === "reboot") {
    return [h("span", { class: "muted" }, "at the next start-up")];
  }
  if (info?.silent && job.nextRun !== null) {
    const due = job.due === null ? null : Date.parse(job.due);
    const note = h("span", { class: "silent-note" }, "the machine is silent");
    if (due === null) return [note];
    const time = h("time", { datetime: new Date(due).toISOString() }, formatTime(due, now));
    return [
      note,
      due <= now
        ? h("span", { class: "relative" }, "was due ", time, `, ${formatRelative(due, now)}`)
        : h(
          "span",
          { class: "relative" },
          "due ",
          time,
          ` (${formatRelative(due, now)}), if it is back`,
        ),
    ];
  }
  if (job.nextRun === null) {
    return [h("span", { class: "muted" }, "never: the schedule names no date to come")];
  }
  const next = Date.parse(job.nextRun);
  return [
    h("time", { datetime: new Date(next).toISOString() }, formatTime(next, now)),
    // Passed, and the run's news or the next time not here yet: it is happening now.
    h("span", { class: "relative" }, formatRelative(Math.max(next, now), now)),
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
 * @param {...import("./dom.js").Child} content The content.
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

/** What a job without a name shows while its command is being opened. */
const OPENING_TEXT = "Opening its command…";

/**
 * One job's row.
 *
 * @param {JobRow} job The job, its command sealed.
 * @param {number} now The current instant.
 * @param {HostInfo | undefined} info Its machine.
 * @param {string | null} command Its command in plain text; null while not opened.
 * @param {"host" | "job" | null} muted What mutes its alerts: its machine, itself, or nothing.
 * @returns {HTMLTableRowElement}
 */
function jobRow(job, now, info, command, muted) {
  const label = job.name !== null || command === null
    ? job.name ?? OPENING_TEXT
    : jobLabel({ name: null, command });
  const run = job.lastRun;
  const zone = jobZone(job, now);
  return h(
    "tr",
    { "data-key": `${job.host}/${job.tag}`, class: `job ${job.state}` },
    h(
      "th",
      { scope: "row", class: "job-name" },
      h(
        "a",
        {
          href: jobHref(job),
          class: job.name !== null ? null : command === null ? "command opening" : "command",
        },
        label,
      ),
      scheduleKind(job.schedule) === "manual"
        ? h(
          "a",
          { href: jobHref(job), class: "button small", "aria-label": `Run ${label}…` },
          "Run…",
        )
        : null,
      mutedMark(job, muted),
    ),
    cell(
      "Schedule",
      h(
        "span",
        { class: "description" },
        scheduleKind(job.schedule) === "reboot"
          ? "at start-up (when Koi starts on the machine)"
          : job.description || job.schedule,
      ),
      zone === null ? null : h("span", { class: "zone" }, `${zone} time`),
      h("code", { class: "schedule" }, job.schedule),
    ),
    cell("Next run", ...nextRun(job, now, info)),
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
 * The mark of a job whose alerts are muted, saying by what; nothing when they are not.
 *
 * @param {JobRow} job The job.
 * @param {"host" | "job" | null} muted What mutes its alerts.
 * @returns {HTMLElement | null}
 */
function mutedMark(job, muted) {
  if (muted === null) return null;
  return h(
    "span",
    {
      class: "alerts-muted",
      title: muted === "host"
        ? `Alerts are muted for every job on ${job.host} (Alerts view)`
        : "Alerts are muted for this job",
    },
    muted === "host" ? `alerts muted on ${job.host}` : "alerts muted",
  );
}

/**
 * A line of counts: "5 jobs on 2 machines: 3 ok, 1 failed, 1 never run".
 *
 * @param {readonly JobRow[]} jobs The jobs.
 * @param {number} hostCount How many hosts.
 * @returns {HTMLElement}
 */
function summary(jobs, hostCount) {
  /** @type {JobState[]} */
  const order = ["failed", "late", "running", "ok", "never"];
  /** @type {Map<JobState, number>} */
  const tally = new Map();
  for (const job of jobs) tally.set(job.state, (tally.get(job.state) ?? 0) + 1);
  const counts = order.flatMap((state) => {
    const count = tally.get(state) ?? 0;
    return count > 0 ? [/** @type {const} */ ([state, count])] : [];
  });
  return h(
    "p",
    { class: "summary" },
    `${count(jobs.length, "job")} on ${count(hostCount, "machine")}`,
    ...counts.map(([state, n]) =>
      h(
        "span",
        { class: `count ${state}` },
        badge(state, `${n.toLocaleString("en-US")} ${STATE_WORDS[state]}`),
      )
    ),
  );
}

/**
 * "1 job", "10,000 jobs".
 *
 * @param {number} n How many.
 * @param {string} noun The thing, singular.
 * @returns {string}
 */
function count(n, noun) {
  return `${n.toLocaleString("en-US")} ${noun}${n === 1 ? "" : "s"}`;
}

/**
 * A machine's sub-heading within a section: its name, and whether it is
 * connected (koid polls the dashboard while it runs) or since when it is not.
 *
 * @param {string} host The host.
 * @param {HostInfo | undefined} info What the dashboard knows of it.
 * @param {number} now The current instant.
 * @returns {HTMLTableRowElement}
 */
function hostRow(host, info, now) {
  const lastSeen = info?.lastSeenAt ?? null;
  const connected = info?.connected ?? false;
  return h(
    "tr",
    { class: "host-row", "data-key": `host\n${host}` },
    h(
      "th",
      { colspan: COLUMNS.length },
      h("span", { class: "kind" }, "Machine"),
      srOnly(" "),
      h("span", { class: "host" }, host),
      h(
        "span",
        { class: connected ? "seen" : "seen quiet" },
        srOnly(", "),
        connected
          ? "connected"
          : lastSeen === null
          ? "never connected"
          : `${info?.silent ? "silent" : "not connected"}, last seen ${
            formatTime(lastSeen, now)
          } (${formatRelative(lastSeen, now)})`,
      ),
    ),
  );
}

/**
 * The jobs table's row groups: a section each (sections by name, jobs with none
 * first), its machines under it by name, each machine's jobs by line.
 *
 * @param {readonly JobRow[]} jobs The jobs to show, by host and line.
 * @param {readonly HostInfo[]} hosts The hosts.
 * @param {() => number} clock The current instant when a row is built.
 * @param {(job: JobRow) => string | null} command A job's command when its row is built,
 *   null while it is not opened.
 * @param {(host: string, tag: string) => "host" | "job" | null} mutedFor What mutes a job's alerts.
 * @returns {import("./window.js").RowGroup[]}
 */
function jobGroups(jobs, hosts, clock, command, mutedFor) {
  /** @type {Map<string, Map<string, JobRow[]>>} */
  const sections = new Map();
  for (const job of jobs) {
    const section = job.section ?? "";
    let byHost = sections.get(section);
    if (byHost === undefined) {
      byHost = new Map();
      sections.set(section, byHost);
    }
    const list = byHost.get(job.host);
    if (list === undefined) byHost.set(job.host, [job]);
    else list.push(job);
  }
  const known = new Map(hosts.map((host) => [host.host, host]));
  const sectionKeys = [...sections.keys()].sort(compareSections);
  return sectionKeys.map((section) => {
    const byHost = /** @type {Map<string, JobRow[]>} */ (sections.get(section));
    return {
      key: section,
      head: h(
        "tr",
        { class: "section-row" },
        h(
          "th",
          { colspan: COLUMNS.length, scope: "rowgroup" },
          h("span", { class: "kind" }, "Section"),
          srOnly(" "),
          h("span", { class: "section-name" }, section === "" ? "No section" : section),
        ),
      ),
      rows: [...byHost.keys()].sort().flatMap((host) => [
        { key: `host\n${host}`, build: () => hostRow(host, known.get(host), clock()) },
        ...(/** @type {JobRow[]} */ (byHost.get(host))).map((job) => ({
          key: `${job.host}/${job.tag}`,
          build: () =>
            jobRow(job, clock(), known.get(host), command(job), mutedFor(job.host, job.tag)),
        })),
      ]),
    };
  });
}

/**
 * The jobs table, without its rows.
 *
 * @returns {HTMLTableElement}
 */
function jobsTable() {
  return h(
    "table",
    { class: "jobs-table" },
    h("caption", { class: "sr-only" }, "Jobs by section, then machine"),
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
  );
}

/**
 * What the page shows when there are no jobs at all.
 *
 * @returns {HTMLElement}
 */
function noJobs() {
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

/** From this many jobs on, the view offers a filter. */
const FILTER_FROM = 25;

/** Each job's words for the filter, lower-cased, by the job as the feed holds it. */
const filterWords = /** @type {WeakMap<JobRow, string>} */ (new WeakMap());

/**
 * Whether a job has every word of a filter in its name, command, machine, section,
 * schedule or state.
 *
 * @param {JobRow} job The job, its command sealed.
 * @param {string} command Its command, opened.
 * @param {readonly string[]} words The filter's words, lower-cased.
 * @returns {boolean}
 */
function jobMatches(job, command, words) {
  let text = filterWords.get(job);
  if (text === undefined) {
    text = [
      job.name ?? "",
      command,
      job.host,
      job.section ?? "",
      job.schedule,
      job.description,
      STATE_WORDS[job.state],
    ].join("\n").toLowerCase();
    filterWords.set(job, text);
  }
  const haystack = text;
  return words.every((word) => haystack.includes(word));
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

/**
 * Resolves once the page has painted what was drawn: in the first task after the
 * next frame's animation callbacks; or after a tenth of a second, in a tab not
 * shown, which paints no frames.
 *
 * @returns {Promise<void>}
 */
function painted() {
  return new Promise((resolve) => {
    requestAnimationFrame(() => setTimeout(resolve, 0));
    setTimeout(resolve, 100);
  });
}

/** How often the jobs view refreshes. */
const REFRESH_MS = 5000;
/** How long typing in the filter may pause before the table follows. */
const FILTER_PAUSE_MS = 120;

/**
 * Shows the jobs view, refreshed every few seconds.
 *
 * @param {import("./app.js").ViewContext} context The view's context.
 * @returns {Promise<void>} Settles when the view is left.
 */
export async function showJobs(context) {
  const { feed, signal } = context;
  const updated = h("p", { class: "updated muted", "aria-live": "off" });
  const notices = h("div", {});
  const counts = h("div", {});
  const filter = h("input", {
    id: "job-filter",
    type: "search",
    autocomplete: "off",
    spellcheck: "false",
    "aria-describedby": "job-filter-status",
  });
  const filterStatus = h("p", { id: "job-filter-status", class: "muted", "aria-live": "polite" });
  const filterBox = h(
    "div",
    { class: "filter", hidden: true },
    h("label", { for: "job-filter" }, "Filter"),
    filter,
    filterStatus,
  );
  const table = jobsTable();
  const tableCard = h("div", { class: "table-card", hidden: true }, table);
  const empty = h("div", { hidden: true }, noJobs());
  const loading = h("p", { class: "muted" }, "Loading jobs…");
  context.main.replaceChildren(
    h("div", { class: "page-head" }, h("h1", { tabindex: -1 }, "Jobs"), updated),
    notices,
    loading,
    counts,
    filterBox,
    tableCard,
    empty,
  );
  context.setTitle("Jobs");
  context.focusHeading();
  const rows = new WindowedTable(table, COLUMNS.length, signal);
  let now = Date.now();
  /** What the table was last drawn from: the same again needs only its rows in view. */
  let drawn = {
    jobs: /** @type {readonly JobRow[]} */ ([]),
    hosts: feed.hosts,
    filter: "",
    mutes: context.mutes.version,
  };
  /** @type {import("./window.js").RowGroup[]} */
  let groups = [];

  /** @type {Set<JobRow>} Jobs whose rows wait for their commands. */
  const sealed = new Set();
  /** A job's command for its row: one not opened yet is opened, and its row built again. */
  const commandFor = (/** @type {JobRow} */ job) => {
    const text = feed.command(job);
    if (text !== null || job.name !== null) return text;
    if (sealed.size === 0) {
      queueMicrotask(() => {
        const jobs = [...sealed];
        sealed.clear();
        feed.openCommands(jobs).then(() => signal.aborted || rows.show(groups), context.failed);
      });
    }
    sealed.add(job);
    return null;
  };
  /** @type {readonly JobRow[] | null} The jobs whose commands the filter waits for. */
  let opening = null;
  /** Says which of these hosts' job lists were refused. */
  const noticeRefused = (/** @type {readonly HostInfo[]} */ hosts) =>
    morph(notices, h("div", {}, ...refusedJobLists(hosts, now)));
  /** The table's row groups for these jobs. */
  const groupsOf = (
    /** @type {readonly JobRow[]} */ jobs,
    /** @type {readonly HostInfo[]} */ hosts,
  ) =>
    jobGroups(jobs, hosts, () => now, commandFor, (host, tag) => context.mutes.mutedFor(host, tag));

  const draw = () => {
    const began = performance.now();
    const { jobs, hosts } = feed;
    loading.hidden = true;
    noticeRefused(hosts);
    empty.hidden = jobs.length > 0;
    tableCard.hidden = jobs.length === 0;
    filterBox.hidden = jobs.length < FILTER_FROM && filter.value === "";
    const words = filter.value.toLowerCase().split(/\s+/).filter((word) => word !== "");
    const changed = jobs !== drawn.jobs || hosts !== drawn.hosts ||
      filter.value !== drawn.filter || context.mutes.version !== drawn.mutes;
    if (changed && words.length > 0 && !feed.commandsOpened(jobs)) {
      // The filter looks through the commands: it waits until all of them are opened.
      filterStatus.textContent = "Opening the commands to look through them…";
      if (opening !== jobs) {
        opening = jobs;
        feed.openCommands(jobs).then(() => {
          opening = null;
          if (!signal.aborted) draw();
        }, context.failed);
      }
    } else if (changed) {
      drawn = { jobs, hosts, filter: filter.value, mutes: context.mutes.version };
      counts.replaceChildren(
        jobs.length === 0 ? "" : summary(jobs, new Set(jobs.map((job) => job.host)).size),
      );
      const shown = words.length === 0
        ? jobs
        : jobs.filter((job) => jobMatches(job, feed.command(job) ?? "", words));
      filterStatus.textContent = words.length === 0
        ? ""
        : shown.length === 0
        ? `No job matches “${filter.value.trim()}”.`
        : `${count(shown.length, "job")} of ${jobs.length.toLocaleString("en-US")} shown.`;
      groups = groupsOf(shown, hosts);
    }
    rows.show(groups);
    // For the page's tests and anyone profiling: how long drawing the table took.
    performance.measure("jobs drawn", { start: began });
  };

  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let pause;
  filter.addEventListener("input", () => {
    clearTimeout(pause);
    pause = setTimeout(draw, FILTER_PAUSE_MS);
  }, { signal });
  signal.addEventListener("abort", () => clearTimeout(pause));

  // Back from another view: the jobs as last seen, at once.
  if (feed.loaded) draw();
  else {
    // While the first answers come: the date formatters the rows will use.
    warmFormatters(Date.now());
    // The first screen of rows, drawn and painted before every job is read (reading 10,000
    // jobs holds the page's thread for a few hundred ms).
    const screen = await feed.firstScreen();
    if (signal.aborted) return;
    if (screen !== null && screen.jobs.length > 0 && !feed.loaded) {
      loading.hidden = true;
      noticeRefused(screen.hosts);
      tableCard.hidden = false;
      counts.replaceChildren(
        h("p", { class: "muted" }, `${count(screen.total, "job")}; loading them all…`),
      );
      groups = groupsOf(screen.jobs, screen.hosts);
      rows.show(groups);
      await painted();
    }
  }
  await every(
    async () => {
      // The mutes only mark rows: a server without alerts (404) leaves them unmarked.
      await Promise.all([feed.update(), context.mutes.refresh(signal).catch(() => {})]);
      context.problem(null);
      now = Date.now();
      draw();
      updated.textContent = `Updated ${formatTime(now, now, { seconds: true })}`;
    },
    REFRESH_MS,
    signal,
    context.failed,
  ).done;
}
