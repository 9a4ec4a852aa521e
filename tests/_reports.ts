/**
 * Builders of the reports koid sends the dashboard (see `Report` in
 * `lib/protocol/schema.ts`), for the store, server and load tests.
 *
 * @module
 */

import type { OutputChunk } from "../lib/output_cap.ts";
import type { Report } from "../lib/protocol/wire.ts";

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
  return { type: "end", runId, end: { finishedAt, ...fields, outputBytes, chunks } };
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
