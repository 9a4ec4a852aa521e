// @ts-check
/**
 * The history plot: one bar per run at its start time, oldest on the left, its
 * height the run's duration and its look the outcome (colour, plus a cross over failures and a
 * dashed outline while running, so colour is never the only sign). Inline SVG
 * made with DOM calls, with a title and a description for screen readers; each
 * bar has its own title and opens its run.
 *
 * @module
 */

import { h, s } from "./dom.js";
import { formatDuration, formatTime, runDuration, runOutcome } from "./format.js";

/** @typedef {import("../protocol/wire.ts").Run} Run */

const HEIGHT = 172;
const TOP = 12;
const BOTTOM = 26;
const RIGHT = 10;
/** The widest a bar gets. */
const MAX_BAR = 18;

/** Steps of the duration axis, in ms: round numbers of seconds, minutes and hours. */
const STEPS = [
  100,
  200,
  500,
  1000,
  2000,
  5000,
  10_000,
  15_000,
  30_000,
  60_000,
  120_000,
  300_000,
  600_000,
  900_000,
  1_800_000,
  3_600_000,
  7_200_000,
  10_800_000,
  21_600_000,
  43_200_000,
  86_400_000,
];

/**
 * The step between the duration axis's three grid lines: the smallest round
 * step whose three lines reach the longest duration.
 *
 * @param {number} longest The longest duration, ms.
 * @returns {number} The step, ms.
 */
function axisStep(longest) {
  return STEPS.find((step) => 3 * step >= longest) ??
    Math.ceil(longest / 3 / 86_400_000) * 86_400_000;
}

/**
 * The plot of a job's runs: each run a bar at its start time, as high as it
 * took long.
 *
 * @param {readonly Run[]} runs The runs, newest first (as the API lists them).
 * @param {number} now The current instant.
 * @param {number} width The width to draw at, in CSS pixels.
 * @param {string} idPrefix Unique prefix for the title and description ids.
 * @returns {HTMLElement} A figure: the SVG and its legend.
 */
export function runsPlot(runs, now, width, idPrefix) {
  const ordered = [...runs].sort((a, b) => a.startedAt - b.startedAt);
  const durations = ordered.map((run) => runDuration(run, now));
  const step = axisStep(Math.max(1, ...durations));
  const top = 3 * step;
  const labels = [1, 2, 3].map((i) => formatDuration(i * step));
  const left = 14 + 6.5 * Math.max(...labels.map((label) => label.length));
  const plotWidth = Math.max(80, width - left - RIGHT);
  const plotHeight = HEIGHT - TOP - BOTTOM;
  const failed = ordered.filter((run) => runOutcome(run).state === "failed").length;
  const titleId = `${idPrefix}-title`;
  const descId = `${idPrefix}-desc`;

  const first = ordered[0];
  const last = ordered[ordered.length - 1];
  const description = first === undefined || last === undefined
    ? "No runs yet."
    : `${ordered.length} run${ordered.length === 1 ? "" : "s"} from ${
      formatTime(first.startedAt, now)
    } to ${formatTime(last.startedAt, now)}; ${failed} failed. Durations from ${
      formatDuration(Math.min(...durations))
    } to ${formatDuration(Math.max(...durations))}; the latest took ${
      formatDuration(durations[durations.length - 1] ?? 0)
    }.`;

  const svg = s(
    "svg",
    {
      class: "plot",
      width,
      height: HEIGHT,
      viewBox: `0 0 ${width} ${HEIGHT}`,
      role: "img",
      "aria-labelledby": `${titleId} ${descId}`,
    },
    s("title", { id: titleId }, "Run durations and outcomes, oldest first"),
    s("desc", { id: descId }, description),
  );

  const y = (/** @type {number} */ ms) => TOP + plotHeight - (ms / top) * plotHeight;
  for (let i = 0; i <= 3; i++) {
    const lineY = y(i * step);
    svg.append(
      s("line", {
        class: i === 0 ? "axis" : "grid",
        x1: left,
        x2: left + plotWidth,
        y1: lineY,
        y2: lineY,
      }),
      s(
        "text",
        { class: "tick", x: left - 8, y: lineY + 4, "text-anchor": "end" },
        i === 0 ? "0" : labels[i - 1] ?? "",
      ),
    );
  }

  // Bars at their start times; the span gets half a bar's room at each end.
  const span = first === undefined || last === undefined ? 0 : last.startedAt - first.startedAt;
  const barWidth = Math.max(2, Math.min(MAX_BAR, (plotWidth / Math.max(1, ordered.length)) * 0.6));
  const inner = plotWidth - barWidth - 8;
  /** @param {number} at */
  const x = (at) =>
    left + 4 + (span === 0 ? inner / 2 : ((at - (first?.startedAt ?? 0)) / span) * inner);

  ordered.forEach((run, i) => {
    const outcome = runOutcome(run);
    const duration = durations[i] ?? 0;
    const barHeight = Math.max(2, (duration / top) * plotHeight);
    const barX = x(run.startedAt);
    const link = s(
      "a",
      { href: `#/run/${encodeURIComponent(run.id)}`, tabindex: -1, class: `bar ${outcome.state}` },
      s(
        "title",
        {},
        `${formatTime(run.startedAt, now)}: ${outcome.text}, ${formatDuration(duration)}`,
      ),
      s("rect", {
        x: barX,
        y: TOP + plotHeight - barHeight,
        width: barWidth,
        height: barHeight,
        rx: 2,
      }),
    );
    if (outcome.state === "failed") {
      link.append(
        s("text", {
          class: "mark",
          x: barX + barWidth / 2,
          y: TOP + plotHeight - barHeight - 4,
          "text-anchor": "middle",
        }, "✕"),
      );
    }
    svg.append(link);
  });

  if (first !== undefined && last !== undefined) {
    const single = span === 0;
    svg.append(
      s(
        "text",
        {
          class: "tick",
          x: single ? x(first.startedAt) + barWidth / 2 : left,
          y: HEIGHT - 6,
          "text-anchor": single ? "middle" : "start",
        },
        formatTime(first.startedAt, now),
      ),
    );
    if (!single && plotWidth > 240) {
      svg.append(
        s(
          "text",
          { class: "tick", x: left + plotWidth, y: HEIGHT - 6, "text-anchor": "end" },
          formatTime(last.startedAt, now),
        ),
      );
    }
  }

  const legend = h(
    "p",
    { class: "legend", "aria-hidden": "true" },
    h("span", { class: "key ok" }, "ok"),
    h("span", { class: "key failed" }, "failed ✕"),
    h("span", { class: "key running" }, "running"),
  );
  return h("figure", { class: "plot-figure" }, svg, legend);
}
