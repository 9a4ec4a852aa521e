/**
 * What an alert says: the event, the host and job it is about, the run's
 * outcome, and when, all from fields that stay plain text on the server (never
 * a command, an argument value or output); and the words and link every
 * channel builds its message from. Pure: no I/O.
 *
 * @module
 */

import type { AlertEvent, AlertFacts } from "../../protocol/alerts.ts";

export { ALERT_EVENTS, type AlertEvent, type AlertFacts } from "../../protocol/alerts.ts";

/**
 * The page a link in an alert opens: the run, the job, the jobs, or the alerts view.
 *
 * @param facts The alert.
 * @param dashboardUrl The dashboard page's address, `https://dash.example/d/ID`.
 * @returns The link.
 *
 * @example
 * ```ts
 * import { alertLink } from "./alert.ts";
 *
 * const facts = { event: "failed", dashboard: "d", host: "web1", tag: "j1", name: "Backup", section: null, runId: "r7", at: 0 } as const;
 * if (alertLink(facts, "https://dash.example/d/abc") !== "https://dash.example/d/abc#/run/r7") throw new Error();
 * ```
 */
export function alertLink(facts: AlertFacts, dashboardUrl: string): string {
  switch (facts.event) {
    case "failed":
    case "recovered":
      return `${dashboardUrl}#/run/${encodeURIComponent(facts.runId ?? "")}`;
    case "missed":
      return `${dashboardUrl}#/job/${encodeURIComponent(facts.host ?? "")}/${
        encodeURIComponent(facts.tag ?? "")
      }`;
    case "test":
      return `${dashboardUrl}#/alerts`;
    default:
      return `${dashboardUrl}#/`;
  }
}

/** What an alert calls a job: its name, else its tag. */
export function jobWords(facts: Pick<AlertFacts, "name" | "tag">): string {
  return facts.name ?? `job ${facts.tag}`;
}

/**
 * How a run ended, in a few words: `exit 2`, `killed by SIGKILL`, `interrupted`,
 * `did not start`.
 *
 * @param facts The alert of a run.
 * @returns The words.
 */
export function outcomeWords(facts: Pick<AlertFacts, "status" | "exitCode" | "signal">): string {
  switch (facts.status) {
    case "failed":
      return facts.exitCode === null || facts.exitCode === undefined
        ? "failed"
        : `exit ${facts.exitCode}`;
    case "killed":
      return facts.signal ? `killed by ${facts.signal}` : "killed";
    case "interrupted":
      return "interrupted";
    case "not-started":
      return "did not start";
    default:
      return "ok";
  }
}

/**
 * An instant as alerts write it, in UTC: `2026-03-01 02:30 UTC`, with seconds
 * when it has any.
 *
 * @param at The instant, ms.
 * @returns The words.
 */
export function timeWords(at: number): string {
  const iso = new Date(at).toISOString();
  const seconds = iso.slice(17, 19) === "00" && iso.slice(20, 23) === "000"
    ? ""
    : iso.slice(16, 19);
  return `${iso.slice(0, 10)} ${iso.slice(11, 16)}${seconds} UTC`;
}

/**
 * A span of time in words: `45 s`, `5 min`, `2 h 10 min`, `3 d 4 h`.
 *
 * @param ms The span.
 * @returns The words.
 */
export function spanWords(ms: number): string {
  const minutes = Math.floor(ms / 60_000);
  if (minutes < 1) return `${Math.max(0, Math.round(ms / 1000))} s`;
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return minutes % 60 === 0 ? `${hours} h` : `${hours} h ${minutes % 60} min`;
  const days = Math.floor(hours / 24);
  return hours % 24 === 0 ? `${days} d` : `${days} d ${hours % 24} h`;
}

/**
 * The alert in one line, as a subject or a chat message says it:
 * `Backup failed on web1 (exit 2)`, `web1 is silent (nothing heard for 5 min)`.
 *
 * @param facts The alert.
 * @returns The line.
 *
 * @example
 * ```ts
 * import { headline } from "./alert.ts";
 *
 * const line = headline({
 *   event: "failed", dashboard: "d", host: "web1", tag: "j1", name: "Backup", section: null,
 *   runId: "r1", status: "failed", exitCode: 2, signal: null, scheduledFor: null, at: 0,
 * });
 * if (line !== "Backup failed on web1 (exit 2)") throw new Error(line);
 * ```
 */
export function headline(facts: AlertFacts): string {
  const job = jobWords(facts);
  const host = facts.host ?? "";
  switch (facts.event) {
    case "failed":
      return `${job} failed on ${host} (${outcomeWords(facts)})`;
    case "recovered":
      return `${job} recovered on ${host}`;
    case "missed":
      return `${job} missed its run on ${host} (due ${timeWords(facts.scheduledFor ?? facts.at)})`;
    case "host-silent":
      return `${host} is silent (nothing heard for ${
        spanWords(facts.at - (facts.lastSeenAt ?? facts.at))
      })`;
    case "host-back":
      return `${host} is back (silent for ${spanWords(facts.at - (facts.lastSeenAt ?? facts.at))})`;
    case "test":
      return "Test alert from the Koi dashboard";
  }
}

/**
 * The alert's details, as labelled lines (`["Machine", "web1"]`), for email and
 * the chat presets that have room for them.
 *
 * @param facts The alert.
 * @returns The lines, in order.
 */
export function detailLines(facts: AlertFacts): [string, string][] {
  const lines: [string, string][] = [];
  if (facts.tag !== null) {
    lines.push([
      "Job",
      facts.section === null ? jobWords(facts) : `${jobWords(facts)} (section ${facts.section})`,
    ]);
  }
  if (facts.host !== null) lines.push(["Machine", facts.host]);
  switch (facts.event) {
    case "failed":
    case "recovered": {
      lines.push(["Result", facts.event === "recovered" ? "ok" : outcomeWords(facts)]);
      if (facts.scheduledFor !== null && facts.scheduledFor !== undefined) {
        lines.push(["Due", timeWords(facts.scheduledFor)]);
      }
      lines.push(["Ended", timeWords(facts.at)]);
      break;
    }
    case "missed":
      lines.push(["Due", timeWords(facts.scheduledFor ?? facts.at)]);
      lines.push(["Not started by", timeWords(facts.at)]);
      break;
    case "host-silent":
    case "host-back":
      lines.push(["Last heard", timeWords(facts.lastSeenAt ?? facts.at)]);
      if (facts.event === "host-back") lines.push(["Back", timeWords(facts.at)]);
      break;
    case "test":
      lines.push(["Sent", timeWords(facts.at)]);
  }
  return lines;
}

/**
 * The words of an alert's link: what it opens.
 *
 * @param event The event.
 * @returns `Open the run`, `Open the job`, …
 */
export function linkWords(event: AlertEvent): string {
  switch (event) {
    case "failed":
    case "recovered":
      return "Open the run";
    case "missed":
      return "Open the job";
    case "test":
      return "Open the alerts";
    default:
      return "Open the dashboard";
  }
}
