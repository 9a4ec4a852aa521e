/**
 * The alert engine of one server instance: it raises alerts when runs end
 * (called as reports arrive), looks over every dashboard for missed runs and
 * silent hosts on a timer, and delivers what is due from the queue in KV,
 * trying again with backoff when a channel fails. Every instance sharing a
 * store runs one; the store's atomic claims make them raise each alert once,
 * and leases make them deliver it once. Deliveries run concurrently, each with
 * its own time limit, and nothing here is awaited by an API call but the
 * raising (a few store writes).
 *
 * @module
 */

import type { AlertFacts } from "./alert.ts";
import {
  type AlertRecord,
  AlertStore,
  type LeasedDelivery,
  type Mute,
  type StateWrite,
  type TryOutcome,
} from "./alert_store.ts";
import type { Channel } from "./channel.ts";
import { DeliveryError, oneLine } from "./delivery_error.ts";
import type { Resolver } from "./destination.ts";
import {
  afterRunEnded,
  currentWatch,
  type FailureState,
  hostChange,
  type HostState,
  missedDue,
} from "./detect.ts";
import { alertEmail } from "./email.ts";
import { postOnce } from "./http_post.ts";
import { webhookRequest } from "./presets.ts";
import { sendMail } from "./smtp.ts";
import { listedJobSchedule } from "../job_view.ts";
import { Periodic } from "../periodic.ts";
import type { Dashboard, DashboardStore } from "../store.ts";
import type { Report, Run } from "../../protocol/wire.ts";

/** How often each instance looks for missed runs and silent hosts, by default. */
export const CHECK_EVERY_MS = 10_000;
/** How often each instance looks at the queue for deliveries due, by default. */
export const DELIVER_EVERY_MS = 2_000;
/** A delivery's time limit, all of it (connecting, TLS, the request or the SMTP session). */
export const DELIVERY_TIMEOUT_MS = 20_000;
/** How long a try holds its delivery: long past its time limit, so no other instance starts one. */
const LEASE_MS = 60_000;
/** The waits between tries of a failing delivery; the last one repeats. */
export const BACKOFF_MS = [10_000, 30_000, 60_000, 120_000, 300_000, 600_000] as const;
/** How long a failing delivery is tried, from its first try: then it is given up. */
export const RETRY_FOR_MS = 3 * 3_600_000;
/** The most deliveries in flight on one instance, and to one channel. */
const MAX_IN_FLIGHT = 32;
const MAX_IN_FLIGHT_PER_CHANNEL = 2;
/** How many times a raise is read again when another writer came first. */
const MAX_RAISE_ATTEMPTS = 20;

/** How the engine runs. */
export interface AlertEngineOptions {
  kv: Deno.Kv;
  store: DashboardStore;
  /** A host is connected when it called within this many ms (the server's `CONNECTED_WITHIN_MS`). */
  connectedMs: number;
  /** The clock, ms since the epoch. */
  now?: () => number;
  /** How often to look for missed runs and silent hosts, ms; 0 only when asked ({@linkcode AlertEngine.check}). */
  checkEveryMs?: number;
  /** How often to look at the queue, ms; 0 only when asked ({@linkcode AlertEngine.deliver}). */
  deliverEveryMs?: number;
  /** How often to prune old alerts, ms; 0 only when asked ({@linkcode AlertEngine.prune}). */
  pruneEveryMs: number;
  /** Whether webhooks and SMTP servers may be at private, loopback or link-local addresses. */
  allowPrivateDestinations?: boolean;
  /** Extra root certificates for HTTPS and SMTP over TLS, PEM. */
  caCerts?: readonly string[];
  /** Resolves destination names; default Deno.resolveDns. */
  resolve?: Resolver;
  /** A delivery's time limit, ms. */
  deliveryTimeoutMs?: number;
  /** Where log lines go. */
  log?: (line: string) => void;
}

/** The mutes of a dashboard, for quick lookup. */
class Mutes {
  readonly #keys: Set<string>;

  constructor(mutes: readonly Mute[]) {
    this.#keys = new Set(
      mutes.map((mute) => mute.tag === null ? mute.host : `${mute.host}\n${mute.tag}`),
    );
  }

  host(host: string): boolean {
    return this.#keys.has(host);
  }

  job(host: string, tag: string): boolean {
    return this.#keys.has(host) || this.#keys.has(`${host}\n${tag}`);
  }
}

/** A new state to store (undefined: as it is), and the alert it raises. */
interface Decision<S> {
  value: S | undefined;
  raise: { facts: AlertFacts; key: string; channels: readonly Channel[] } | null;
}

/** The wait before the next try of a delivery tried `attempts` times. */
function backoff(attempts: number): number {
  return BACKOFF_MS[Math.min(attempts, BACKOFF_MS.length) - 1] ?? BACKOFF_MS[0];
}

/** One server instance's alert engine. */
export class AlertEngine {
  readonly #alerts: AlertStore;
  readonly #store: DashboardStore;
  readonly #now: () => number;
  readonly #options: AlertEngineOptions;
  readonly #log: (line: string) => void;
  readonly #stopping = new AbortController();
  readonly #inFlight = new Map<string, { channelId: string; done: Promise<void> }>();
  readonly #timers: Periodic[] = [];
  #pumping: Promise<void> | null = null;
  #again = false;

  /**
   * Makes the engine; {@linkcode start} starts its timers.
   *
   * @param options The store, clock, timers and destination policy.
   */
  constructor(options: AlertEngineOptions) {
    this.#alerts = new AlertStore(options.kv);
    this.#store = options.store;
    this.#now = options.now ?? Date.now;
    this.#options = options;
    this.#log = options.log ?? ((line) => console.error(`dashboard: ${line}`));
  }

  /** The alerts' store: channels, mutes, the history. */
  get alerts(): AlertStore {
    return this.#alerts;
  }

  /** Starts looking for events, delivering and pruning on timers. */
  start(): void {
    const guarded = (what: string, task: () => Promise<void>) => async () => {
      try {
        await task();
      } catch (error) {
        this.#log(`alerts: cannot ${what}: ${(error as Error).stack ?? error}`);
      }
    };
    this.#timers.push(
      new Periodic(
        this.#options.checkEveryMs ?? CHECK_EVERY_MS,
        guarded("check", () => this.check()),
      ),
      new Periodic(
        this.#options.deliverEveryMs ?? DELIVER_EVERY_MS,
        guarded("deliver", () => this.deliver()),
      ),
      new Periodic(this.#options.pruneEveryMs, guarded("prune old alerts", () => this.prune())),
    );
  }

  /** Stops the timers and the deliveries in flight (their leases run out; another try comes). */
  async stop(): Promise<void> {
    this.#stopping.abort();
    await Promise.all(this.#timers.map((timer) => timer.stop()));
    await this.#pumping;
    await this.settled();
  }

  /** Resolves once no delivery is in flight on this instance. */
  async settled(): Promise<void> {
    while (this.#inFlight.size > 0 || this.#pumping !== null) {
      await Promise.all([this.#pumping, ...[...this.#inFlight.values()].map((f) => f.done)]);
    }
  }

  /**
   * Raises the alerts of runs that ended in a batch of reports just stored:
   * `failed`, `recovered`. Awaited by the reports call, so that an answered
   * batch has its alerts raised (koid sends a batch again until answered);
   * delivery starts at once, unawaited.
   *
   * @param id The dashboard id.
   * @param host The host that sent it.
   * @param reports The batch, as stored.
   */
  async reportsStored(id: string, host: string, reports: readonly Report[]): Promise<void> {
    const ended = reports.flatMap((report) => report.type === "end" ? [report.runId] : []);
    if (ended.length === 0) return;
    const runs = (await this.#store.getRuns(id, ended))
      .filter((run) => run.host === host && run.status !== "running")
      .sort((a, b) => (a.finishedAt ?? 0) - (b.finishedAt ?? 0));
    const states = await this.#alerts.getFailureStates(id, host, runs.map((run) => run.tag));
    let context: { mutes: Mutes; channels: Channel[] } | null = null;
    let raised = false;
    for (const run of runs) {
      // Most runs succeed, of jobs not failing: they raise nothing and change nothing.
      const state = states.get(run.tag)!;
      if (run.status === "succeeded" && !state.value?.failing) continue;
      context ??= {
        mutes: new Mutes(await this.#alerts.listMutes(id)),
        channels: await this.#alerts.listChannels(id),
      };
      raised = await this.#runEnded(id, run, state, context.mutes, context.channels) || raised;
      // A later run of the same job in this batch reads the state this one left.
      states.set(run.tag, await this.#alerts.getFailureState(id, host, run.tag));
    }
    if (raised) this.kick();
  }

  async #runEnded(
    id: string,
    run: Run,
    first: Deno.KvEntryMaybe<FailureState>,
    mutes: Mutes,
    channels: Channel[],
  ): Promise<boolean> {
    const read = () => this.#alerts.getFailureState(id, run.host, run.tag);
    const { raised } = await this.#settle(id, first, read, (entry, now) => {
      const change = afterRunEnded(entry.value, run, now, mutes.job(run.host, run.tag));
      if (change.state === null) return null;
      return {
        value: change.state,
        raise: change.raised && {
          key: change.raised.key,
          channels,
          facts: {
            event: change.raised.event,
            dashboard: id,
            host: run.host,
            tag: run.tag,
            name: run.name,
            section: run.section,
            runId: run.id,
            status: run.status as Exclude<Run["status"], "running">,
            exitCode: run.exitCode,
            signal: run.signal,
            scheduledFor: run.scheduledFor,
            at: run.finishedAt ?? now,
          },
        },
      };
    });
    return raised;
  }

  /**
   * Decides on a state and commits it with the alert it raises, reading the
   * state again while another writer comes first.
   *
   * @param id The dashboard id.
   * @param first The state's entry as read.
   * @param read Reads it again.
   * @param decide The new state and the alert to raise; null when nothing changes.
   * @returns Whether an alert was raised, and the state as it is now.
   */
  async #settle<S>(
    id: string,
    first: Deno.KvEntryMaybe<S>,
    read: () => Promise<Deno.KvEntryMaybe<S>>,
    decide: (entry: Deno.KvEntryMaybe<S>, now: number) => Decision<S> | null,
  ): Promise<{ raised: boolean; state: S | null }> {
    let entry = first;
    for (let attempt = 0; attempt < MAX_RAISE_ATTEMPTS; attempt++) {
      if (attempt > 0) entry = await read();
      const now = this.#now();
      const decision = decide(entry, now);
      if (decision === null) return { raised: false, state: entry.value };
      const { value, raise } = decision;
      const claim = raise === null ? null : await this.#alerts.getClaim(id, raise.key);
      const writes: StateWrite[] = value === undefined ? [] : [{ entry, value }];
      const result = await this.#alerts.raise(
        id,
        writes,
        raise === null || claim === null ? null : { ...raise, claim },
        now,
      );
      if (result !== false) return { raised: result !== null, state: value ?? entry.value };
    }
    throw new Error("Cannot raise an alert: other writers kept changing its state");
  }

  /** Looks over every dashboard for missed runs and silent hosts, once. */
  async check(): Promise<void> {
    let raised = false;
    for (const dashboard of await this.#store.listDashboards()) {
      if (this.#stopping.signal.aborted) return;
      raised = await this.checkDashboard(dashboard) || raised;
    }
    if (raised) this.kick();
  }

  /**
   * Looks over one dashboard: each host's state (connected, silent, back), then
   * each scheduled job of a connected host for a run missed.
   *
   * @param dashboard The dashboard, with its settings.
   * @returns Whether an alert was raised.
   */
  async checkDashboard(dashboard: Dashboard): Promise<boolean> {
    const { id, settings } = dashboard;
    const limits = {
      connectedMs: this.#options.connectedMs,
      silentMs: settings.hostSilentSeconds * 1000,
    };
    const [hosts, hostStates, mutes, channels] = await Promise.all([
      this.#store.listHosts(id),
      this.#alerts.listHostStates(id),
      this.#alerts.listMutes(id).then((list) => new Mutes(list)),
      this.#alerts.listChannels(id),
    ]);
    let raised = false;
    const states = new Map<string, HostState>();
    for (const { host, lastSeenAt } of hosts) {
      const read = () => this.#alerts.getHostState(id, host);
      const outcome = await this.#settle(
        id,
        hostStates.get(host) ?? await read(),
        read,
        (entry, now) => {
          const change = hostChange(entry.value, lastSeenAt, now, limits, mutes.host(host));
          if (change.state === null) return null;
          const event = change.raised?.event;
          return {
            value: change.state,
            raise: change.raised && {
              key: change.raised.key,
              channels,
              facts: {
                event: change.raised.event,
                dashboard: id,
                host,
                tag: null,
                name: null,
                section: null,
                lastSeenAt: event === "host-silent" ? lastSeenAt! : entry.value!.silent!.lastSeenAt,
                at: event === "host-silent" ? lastSeenAt! + limits.silentMs : lastSeenAt!,
              },
            },
          };
        },
      );
      raised = outcome.raised || raised;
      if (outcome.state !== null) states.set(host, outcome.state);
    }
    const graceMs = settings.missedGraceSeconds * 1000;
    return await this.#checkJobs(id, states, mutes, channels, graceMs) || raised;
  }

  async #checkJobs(
    id: string,
    hosts: ReadonlyMap<string, HostState>,
    mutes: Mutes,
    channels: readonly Channel[],
    graceMs: number,
  ): Promise<boolean> {
    const [jobs, watches] = await Promise.all([
      this.#store.listJobs(id),
      this.#alerts.listWatches(id),
    ]);
    let raised = false;
    for (const job of jobs) {
      const schedule = listedJobSchedule(job);
      if (schedule === null) continue;
      const host = hosts.get(job.host);
      const read = () => this.#alerts.getWatch(id, job.host, job.tag);
      const first = watches.get(`${job.host}\n${job.tag}`) ?? await read();
      const outcome = await this.#settle(id, first, read, (entry, now) => {
        const { watch, changed } = currentWatch(entry.value, job, now);
        const unchanged = changed ? { value: watch, raise: null } : null;
        // A host not connected, or silent, raises no missed runs: see detect.ts.
        if (host === undefined || !host.connected || host.silent !== null) return unchanged;
        if (mutes.job(job.host, job.tag)) return unchanged;
        const since = Math.max(watch.since, host.since);
        const due = missedDue(schedule, job.lastRun, since, now, graceMs);
        if (due === null || due === watch.missed) return unchanged;
        return {
          value: { ...watch, missed: due },
          raise: {
            key: `missed/${job.host}/${job.tag}/${due}`,
            channels,
            facts: {
              event: "missed",
              dashboard: id,
              host: job.host,
              tag: job.tag,
              name: job.name,
              section: job.section,
              scheduledFor: due,
              at: due + graceMs,
            },
          },
        };
      });
      raised = outcome.raised || raised;
    }
    return raised;
  }

  /**
   * Sends a test alert to one channel: raised and queued like any other alert,
   * delivered at once (unawaited).
   *
   * @param id The dashboard id.
   * @param channelId The channel.
   * @returns The alert, or null when there is no such channel.
   */
  async test(id: string, channelId: string): Promise<AlertRecord | null> {
    const channel = await this.#alerts.getChannel(id, channelId);
    if (channel === null) return null;
    const now = this.#now();
    const key = `test/${crypto.randomUUID()}`;
    const facts: AlertFacts = {
      event: "test",
      dashboard: id,
      host: null,
      tag: null,
      name: null,
      section: null,
      at: now,
    };
    const claim = await this.#alerts.getClaim(id, key);
    const alert = await this.#alerts.raise(id, [], { facts, key, claim, channels: [channel] }, now);
    if (alert === false || alert === null) throw new Error("Cannot raise a test alert");
    this.kick();
    return alert;
  }

  /** Looks at the queue now (or once more right after the look under way). */
  kick(): void {
    if (this.#stopping.signal.aborted) return;
    this.deliver().catch((error) => {
      this.#log(`alerts: cannot deliver: ${(error as Error).stack ?? error}`);
    });
  }

  /**
   * Takes the deliveries due from the queue and starts each (unawaited): at most
   * 32 in flight, 2 to one channel, so a slow channel never holds up others.
   *
   * @returns Once the due deliveries are started, not done ({@linkcode settled}).
   */
  deliver(): Promise<void> {
    if (this.#pumping !== null) {
      this.#again = true;
      return this.#pumping;
    }
    this.#pumping = (async () => {
      try {
        do {
          this.#again = false;
          await this.#deliverDue();
        } while (this.#again && !this.#stopping.signal.aborted);
      } finally {
        this.#pumping = null;
      }
    })();
    return this.#pumping;
  }

  async #deliverDue(): Promise<void> {
    const now = this.#now();
    for (const due of await this.#alerts.dueDeliveries(now, 200)) {
      if (this.#stopping.signal.aborted || this.#inFlight.size >= MAX_IN_FLIGHT) return;
      const name = `${due.id}/${due.alertId}/${due.channelId}`;
      if (this.#inFlight.has(name)) continue;
      const toChannel = [...this.#inFlight.values()].filter((f) => f.channelId === due.channelId);
      if (toChannel.length >= MAX_IN_FLIGHT_PER_CHANNEL) continue;
      const leased = await this.#alerts.lease(due, this.#now(), LEASE_MS);
      if (leased === null) continue;
      const done = this.#try(leased).catch((error) => {
        this.#log(`alerts: a delivery failed oddly: ${(error as Error).stack ?? error}`);
      }).finally(() => {
        this.#inFlight.delete(name);
        // The channel may have more waiting behind this one.
        this.kick();
      });
      this.#inFlight.set(name, { channelId: due.channelId, done });
    }
  }

  /** One try of a delivery, and its outcome recorded. */
  async #try(leased: LeasedDelivery): Promise<void> {
    const { channel, alert, delivery } = leased;
    let outcome: TryOutcome;
    try {
      if (channel === null) throw new DeliveryError("the channel was removed", false);
      if (alert === null) throw new DeliveryError("the alert is gone", false);
      await this.#send(channel, alert, leased.channelId);
      outcome = { ok: true };
    } catch (error) {
      // Stopping: the lease runs out, and this or another instance tries again.
      if (this.#stopping.signal.aborted) return;
      const failure = error instanceof DeliveryError
        ? error
        : new DeliveryError(oneLine(String(error)), true);
      const now = this.#now();
      const wait = Math.max(backoff(delivery.attempts), failure.retryAfterMs ?? 0);
      const firstTriedAt = delivery.firstTriedAt ?? now;
      const retryAt = failure.retry && now + wait - firstTriedAt <= RETRY_FOR_MS
        ? now + wait
        : null;
      outcome = { ok: false, error: failure.message, retryAt };
      const to = `${channel?.kind ?? "a"} channel (${delivery.target})`;
      if (retryAt === null) {
        const tries = delivery.attempts === 1 ? "" : ` after ${delivery.attempts} tries`;
        this.#log(`alerts: gave up a delivery to the ${to}${tries}: ${failure.message}`);
      } else if (delivery.attempts === 1) {
        this.#log(
          `alerts: a delivery to the ${to} failed: ${failure.message}; trying again for up to ${
            RETRY_FOR_MS / 3_600_000
          } h`,
        );
      }
    }
    await this.#alerts.finish(leased, outcome, this.#now());
  }

  async #send(channel: Channel, alert: AlertRecord, channelId: string): Promise<void> {
    const options = {
      policy: {
        allowPrivate: this.#options.allowPrivateDestinations ?? false,
        ...(this.#options.resolve ? { resolve: this.#options.resolve } : {}),
      },
      timeoutMs: this.#options.deliveryTimeoutMs ?? DELIVERY_TIMEOUT_MS,
      caCerts: this.#options.caCerts ?? [],
      signal: this.#stopping.signal,
    };
    if (channel.kind !== "email") {
      await postOnce(webhookRequest(channel, alert.facts), options);
      return;
    }
    const { host, port, tls, user, password } = channel.smtp;
    const envelope = alertEmail(
      channel,
      alert.facts,
      { alertId: alert.id, channelId },
      this.#now(),
    );
    await sendMail(
      { host, port, tls, user: user ?? undefined, password: password ?? undefined },
      envelope,
      options,
    );
  }

  /** Prunes every dashboard's old alerts, and the states of jobs that are gone. */
  async prune(): Promise<void> {
    const now = this.#now();
    for (const dashboard of await this.#store.listDashboards()) {
      if (this.#stopping.signal.aborted) return;
      await this.#alerts.pruneAlerts(dashboard.id, dashboard.settings.retentionDays, now);
      const jobs = await this.#store.listJobs(dashboard.id);
      await this.#alerts.forgetJobsExcept(
        dashboard.id,
        new Set(jobs.map((job) => `${job.host}\n${job.tag}`)),
      );
    }
  }
}
