/**
 * Manual-run payloads as the page and `koitab -d run` make them, for the tests:
 * each argument value sealed (as JSON, whatever its type, so that a test can
 * also seal what no signer would) before the payload is signed.
 *
 * @module
 */

import { payloadText } from "../lib/protocol/manual.ts";
import { contexts, openRun, openText, sealValue } from "../lib/protocol/sealed.js";
import type { Report } from "../lib/protocol/wire.ts";

/** A request as a signer means it: its argument values still plain. */
export interface PlainPayload {
  v: number;
  dashboard: string;
  host: string;
  tag: string;
  ts: number;
  args: Record<string, unknown>;
}

/**
 * The payload text of a request, its values sealed as a signer seals them.
 *
 * @param dataKey The dashboard's data key.
 * @param plain The request.
 * @returns The payload text, to sign.
 */
export async function sealedPayload(dataKey: string, plain: PlainPayload): Promise<string> {
  const at = contexts(plain.dashboard, plain.host);
  const args: Record<string, string> = {};
  for (const [name, value] of Object.entries(plain.args)) {
    args[name] = await sealValue(
      dataKey,
      at.payloadArg(plain.tag, name, plain.ts),
      value as string,
    );
  }
  return payloadText({ ...plain, args });
}

/**
 * A batch of reports as koid meant them: each sealed field opened (what does not
 * open reads `UNDECRYPTABLE_TEXT`), for tests that check what koid reported.
 *
 * @param dataKey The dashboard's data key.
 * @param dashboard The dashboard id.
 * @param host The host that sent them.
 * @param reports The reports, as sent.
 * @returns The reports, opened.
 */
export function openReports(
  dataKey: string,
  dashboard: string,
  host: string,
  reports: readonly Report[],
): Promise<Report[]> {
  const at = contexts(dashboard, host);
  return Promise.all(reports.map(async (report): Promise<Report> => {
    switch (report.type) {
      case "start": {
        const opened = await openRun(dataKey, dashboard, { ...report.run, host, error: null });
        return { ...report, run: { ...report.run, args: opened.args } };
      }
      case "output":
        return {
          ...report,
          text: await openText(
            dataKey,
            at.output(report.runId, report.stream, report.seq, false),
            report.text,
          ),
        };
      case "end": {
        const { end, runId } = report;
        const chunks = await Promise.all(end.chunks.map(async (chunk, seq) => ({
          ...chunk,
          text: await openText(dataKey, at.output(runId, chunk.stream, seq, true), chunk.text),
        })));
        const error = end.error === null
          ? null
          : await openText(dataKey, at.error(runId), end.error);
        return { ...report, end: { ...end, error, chunks } };
      }
      case "manual":
        return report.reason === null ? report : {
          ...report,
          reason: await openText(dataKey, at.refusal(report.manualId), report.reason),
        };
    }
  }));
}
