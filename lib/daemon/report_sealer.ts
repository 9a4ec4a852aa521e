/**
 * What koid seals before it reaches the dashboard (`../protocol/sealed.js` says
 * where each value belongs): in its reports, every chunk of output, each run's
 * argument values, `error` texts and the reasons it refuses manual runs; in its
 * job list, each job's command line and argument defaults. What the server needs
 * to list, alert and prune stays plain.
 *
 * A job's envelopes are kept while its line is unchanged, so a job list sent
 * again is byte for byte the same and the dashboard sees no change in it.
 *
 * @module
 */

import { importDataKey, seal } from "../protocol/envelope.js";
import { contexts, sealValue } from "../protocol/sealed.js";
import type { Job, OutputChunk, Report } from "../protocol/wire.ts";
import { charBoundary } from "../output_cap.ts";

/** The most bytes of one sealed chunk of final output: the server keeps or drops whole chunks. */
export const FINAL_PIECE_BYTES = 16 * 1024;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Seals koid's reports and job lists for one dashboard, as one host. */
export class ReportSealer {
  readonly #key: Promise<CryptoKey>;
  readonly #at: ReturnType<typeof contexts>;
  /** Each job's sealed fields, by tag, with the plain job they seal. */
  #jobs = new Map<string, { plain: string; sealed: Job }>();

  /**
   * @param dashboard The dashboard id.
   * @param host This koid's host name.
   * @param dataKey The dashboard's data key.
   */
  constructor(dashboard: string, host: string, dataKey: string) {
    this.#key = importDataKey(dataKey);
    this.#at = contexts(dashboard, host);
  }

  /**
   * Seals a batch of reports, in order.
   *
   * @param reports The reports, as spooled.
   * @returns The reports as the server gets them.
   */
  async reports(reports: readonly Report[]): Promise<Report[]> {
    const key = await this.#key;
    const at = this.#at;
    return await Promise.all(reports.map(async (report): Promise<Report> => {
      switch (report.type) {
        case "start": {
          const { run } = report;
          const args = Object.fromEntries(
            await Promise.all(
              Object.entries(run.args).map(async ([name, value]) =>
                [name, await sealValue(key, at.runArg(run.id, name), value)] as const
              ),
            ),
          );
          return { ...report, run: { ...run, args } };
        }
        case "output":
          return {
            ...report,
            text: await seal(
              key,
              at.output(report.runId, report.stream, report.seq, false),
              report.text,
            ),
          };
        case "end": {
          const { end, runId } = report;
          const pieces = end.chunks.flatMap(splitChunk);
          const chunks = await Promise.all(pieces.map(async (chunk, seq) => ({
            stream: chunk.stream,
            text: await seal(key, at.output(runId, chunk.stream, seq, true), chunk.text),
          })));
          const error = end.error === null ? null : await seal(key, at.error(runId), end.error);
          return { ...report, end: { ...end, error, chunks } };
        }
        case "manual":
          return report.reason === null
            ? report
            : { ...report, reason: await seal(key, at.refusal(report.manualId), report.reason) };
      }
    }));
  }

  /**
   * Seals a job list: each job's command and argument defaults. A job whose plain
   * fields are those sealed last time gets the very same envelopes again.
   *
   * @param jobs The job list, in plain.
   * @returns The job list as the server gets it.
   */
  async jobs(jobs: readonly Job[]): Promise<Job[]> {
    const key = await this.#key;
    const at = this.#at;
    const kept = new Map<string, { plain: string; sealed: Job }>();
    const sealed = await Promise.all(jobs.map(async (job) => {
      const plain = JSON.stringify([job.command, job.args]);
      const known = this.#jobs.get(job.tag);
      const fields = known?.plain === plain ? known.sealed : {
        ...job,
        command: await seal(key, at.command(job.tag), job.command),
        args: await Promise.all(job.args.map(async (arg) =>
          arg.default === undefined ? arg : {
            ...arg,
            default: await sealValue(key, at.argDefault(job.tag, arg.name), arg.default),
          }
        )),
      };
      const out = { ...job, command: fields.command, args: fields.args };
      kept.set(job.tag, { plain, sealed: out });
      return out;
    }));
    this.#jobs = kept;
    return sealed;
  }
}

/**
 * A chunk of final output in pieces of at most {@linkcode FINAL_PIECE_BYTES}
 * bytes, cut between characters.
 */
function splitChunk(chunk: OutputChunk): OutputChunk[] {
  if (chunk.text.length * 3 <= FINAL_PIECE_BYTES) return [chunk];
  const bytes = encoder.encode(chunk.text);
  if (bytes.length <= FINAL_PIECE_BYTES) return [chunk];
  const pieces: OutputChunk[] = [];
  for (let at = 0; at < bytes.length;) {
    const end = charBoundary(bytes, at + FINAL_PIECE_BYTES);
    pieces.push({ stream: chunk.stream, text: decoder.decode(bytes.subarray(at, end)) });
    at = end;
  }
  return pieces;
}
