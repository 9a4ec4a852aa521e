/**
 * Builders of the reports koid sends the dashboard (see `Report` in
 * `lib/protocol/schema.ts`), and of a job of its lists, for the store, server,
 * page and load tests: their texts
 * are stand-ins for sealed ones ({@linkcode sealedStub}), as the server takes
 * only envelopes and never opens one.
 *
 * @module
 */

import type { OutputChunk } from "../lib/output_cap.ts";
import type { Job, Report } from "../lib/protocol/wire.ts";

/**
 * A job run by hand, as koid lists it.
 *
 * @param tag Its tag.
 * @param line Its line in the koitab.
 * @param command Its command, sealed (or a {@linkcode sealedStub}).
 * @returns The job.
 */
export function manualJob(tag: string, line: number, command: string): Job {
  return {
    tag,
    name: null,
    section: null,
    schedule: "@manual",
    timezone: null,
    args: [],
    next: [],
    command,
    line,
  };
}

/**
 * A scheduled run's start.
 *
 * @param id The run id.
 * @param tag Its job's tag.
 * @param startedAt When it started, ms.
 * @returns The report.
 */
export function startReport(id: string, tag: string, startedAt: number): Report {
  return {
    type: "start",
    run: {
      id,
      tag,
      name: null,
      section: null,
      trigger: "schedule",
      args: {},
      scheduledFor: null,
      startedAt,
      manualId: null,
    },
  };
}

/**
 * A chunk of output streamed to stdout.
 *
 * @param runId The run id.
 * @param seq The chunk's sequence number.
 * @param text The output.
 * @returns The report.
 */
export function outputReport(runId: string, seq: number, text: string): Report {
  return { ...plainOutputReport(runId, seq, text), text: sealedStub(text) };
}

/**
 * A chunk of output streamed to stdout, in plain: as koid spools it, before sealing.
 *
 * @param runId The run id.
 * @param seq The chunk's sequence number.
 * @param text The output.
 * @returns The report.
 */
export function plainOutputReport(
  runId: string,
  seq: number,
  text: string,
): Extract<Report, { type: "output" }> {
  return { type: "output", runId, seq, stream: "stdout", text };
}

/**
 * A successful run's end, with its final output.
 *
 * @param runId The run id.
 * @param finishedAt When it ended, ms.
 * @param chunks Its final output.
 * @returns The report.
 */
export function endReport(runId: string, finishedAt: number, chunks: OutputChunk[] = []): Report {
  const encoder = new TextEncoder();
  const outputBytes = chunks.reduce((sum, chunk) => sum + encoder.encode(chunk.text).length, 0);
  const fields = { exitCode: 0, signal: null, status: "succeeded", error: null } as const;
  const sealed = chunks.map((chunk) => ({ ...chunk, text: sealedStub(chunk.text) }));
  return { type: "end", runId, end: { finishedAt, ...fields, outputBytes, chunks: sealed } };
}

/**
 * A whole run's reports: its start, one chunk of output, and its end a second later
 * with that output as the final output.
 *
 * @param id The run id.
 * @param tag Its job's tag.
 * @param startedAt When it started, ms.
 * @param text Its output.
 * @returns The three reports.
 */
export function runReports(
  id: string,
  tag: string,
  startedAt: number,
  text = `output of ${id}\n`,
): Report[] {
  return [
    startReport(id, tag, startedAt),
    outputReport(id, 0, text),
    endReport(id, startedAt + 1000, [{ stream: "stdout", text }]),
  ];
}

/**
 * A stand-in for a sealed text, for tests of the server, which never opens one:
 * an envelope in shape (`k1.IV.SEALED`), its "ciphertext" the text's bytes and
 * 16 zero bytes in base64url, so it has the length of a real one and is the same
 * each time. It does not open with any key.
 *
 * @param text The text it stands for.
 * @returns The stand-in envelope.
 */
export function sealedStub(text: string): string {
  const bytes = new TextEncoder().encode(text);
  const sealed = new Uint8Array(bytes.length + 16);
  sealed.set(bytes);
  let binary = "";
  for (const byte of sealed) binary += String.fromCharCode(byte);
  const base64url = btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
  return `k1.AAAAAAAAAAAAAAAA.${base64url}`;
}

/**
 * {@linkcode sealedStub} of each of some argument values (of their JSON, as koid seals them).
 *
 * @param values The values, by name.
 * @returns The stand-ins, by name.
 */
export function stubArgs(values: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(values).map(([name, value]) => [name, sealedStub(JSON.stringify(value))]),
  );
}

/**
 * Reports with every sealed field made a {@linkcode sealedStub}: for the server's
 * tests and benches that build reports in plain.
 *
 * @param reports The reports, in plain.
 * @returns The reports, their texts, values, errors and reasons stand-in envelopes.
 */
export function stubReports(reports: readonly Report[]): Report[] {
  return reports.map((report): Report => {
    switch (report.type) {
      case "start":
        return { ...report, run: { ...report.run, args: stubArgs(report.run.args) } };
      case "output":
        return { ...report, text: sealedStub(report.text) };
      case "end": {
        const { error, chunks } = report.end;
        return {
          ...report,
          end: {
            ...report.end,
            error: error === null ? null : sealedStub(error),
            chunks: chunks.map((chunk) => ({ ...chunk, text: sealedStub(chunk.text) })),
          },
        };
      }
      case "manual":
        return report.reason === null ? report : { ...report, reason: sealedStub(report.reason) };
    }
  });
}
