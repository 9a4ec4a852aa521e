/**
 * What alerts keep in the dashboard's Deno KV: channels, mutes, what the engine
 * remembers of each job and host, the alerts raised and each channel's
 * delivery of them, and the queue of deliveries due. The only module of alerts
 * that touches KV. Every key but the queue's is `[kind, dashboardId, ...]`, so
 * deleting a dashboard's prefixes deletes them (see `KEY_KINDS` in store.ts);
 * the queue, read by time across dashboards, is cleared by
 * {@linkcode AlertStore.forgetDashboard}.
 *
 * | key                                                 | value                                 |
 * | --------------------------------------------------- | ------------------------------------- |
 * | `["alertChannel", id, channelId]`                   | Channel, with its secrets             |
 * | `["alertMute", id, host]`, `[…, host, tag]`         | `{at}`: a host's or a job's mute      |
 * | `["alertWatch", id, host, tag]`                     | WatchState: for missed runs           |
 * | `["alertFail", id, host, tag]`                      | FailureState: for failures            |
 * | `["alertHost", id, host]`                           | HostState: connected, silent          |
 * | `["alertClaim", id, eventKey]`                      | `{alertId, createdAt}`: raised once   |
 * | `["alert", id, createdAt, alertId]`                 | the alert's facts and channels        |
 * | `["alertDelivery", id, createdAt, alertId, chId]`   | Delivery: state, tries, last error    |
 * | `["alertDue", dueAt, id, createdAt, alertId, chId]` | null: a delivery to try at `dueAt`    |
 *
 * An alert is raised in one atomic write with its claim (checked absent), its
 * deliveries and their queue entries, and the engine's state change that
 * raised it (checked unchanged): of several server instances seeing one event,
 * one raises it, once, and a raised alert is never lost.
 *
 * @module
 */

import { base64url } from "../../protocol/keys.ts";
import type { Mute, PublicAlert, PublicDelivery } from "../../protocol/alerts.ts";
import { type AlertFacts, headline } from "./alert.ts";

export type { Mute, PublicAlert, PublicDelivery } from "../../protocol/alerts.ts";
import { type Channel, channelTarget, MAX_CHANNELS, type NewChannel } from "./channel.ts";
import type { FailureState, HostState, WatchState } from "./detect.ts";

/** The kinds of key alerts keep per dashboard (the queue's is not one). */
export const ALERT_KEY_KINDS = [
  "alertChannel",
  "alertMute",
  "alertWatch",
  "alertFail",
  "alertHost",
  "alertClaim",
  "alert",
  "alertDelivery",
] as const;

const DAY_MS = 86_400_000;
/** The most alerts a dashboard keeps, however young. */
export const MAX_ALERTS = 1000;
const MAX_ATTEMPTS = 50;

/** Where a delivery stands. */
export type DeliveryState = "pending" | "sending" | "sent" | "failed";

/** One channel's delivery of one alert, as stored. */
export interface Delivery {
  channel: string;
  kind: Channel["kind"];
  /** Where it goes, in words safe to show. */
  target: string;
  state: DeliveryState;
  attempts: number;
  firstTriedAt: number | null;
  /** When it is due next (pending), or when its lease ends (sending); null once done. */
  nextAt: number | null;
  sentAt: number | null;
  /** Why the last try failed. */
  error: string | null;
}

/** An alert as stored. */
export interface AlertRecord {
  id: string;
  createdAt: number;
  facts: AlertFacts;
  /** The channels it was raised for, each with a delivery. */
  channels: string[];
}

/** A delivery in the queue. */
export interface DueDelivery {
  dueAt: number;
  id: string;
  createdAt: number;
  alertId: string;
  channelId: string;
}

/** A delivery taken for one try: until `leaseUntil`, no other instance tries it. */
export interface LeasedDelivery extends DueDelivery {
  leaseUntil: number;
  delivery: Delivery;
  alert: AlertRecord | null;
  channel: Channel | null;
}

/** What a try of a delivery came to. */
export type TryOutcome =
  | { ok: true }
  | { ok: false; error: string; retryAt: number | null };

/** A write that goes with raising an alert: the engine's state change behind it. */
export interface StateWrite {
  /** The entry as read: the write commits only if it is unchanged. */
  entry: Deno.KvEntryMaybe<unknown>;
  /** The new value; null deletes it. */
  value: unknown;
}

function dueKey(due: Omit<DueDelivery, "dueAt">, dueAt: number): Deno.KvKey {
  return ["alertDue", dueAt, due.id, due.createdAt, due.alertId, due.channelId];
}

function deliveryKey(due: Omit<DueDelivery, "dueAt">): Deno.KvKey {
  return ["alertDelivery", due.id, due.createdAt, due.alertId, due.channelId];
}

function publicDelivery(delivery: Delivery): PublicDelivery {
  const { channel, kind, target, attempts, error, sentAt } = delivery;
  const state = delivery.state === "sending" ? "pending" : delivery.state;
  const nextAttemptAt = delivery.state === "pending" ? delivery.nextAt : null;
  return { channel, kind, target, state, attempts, error, sentAt, nextAttemptAt };
}

/**
 * A channel's delivery of an alert raised at `now`: due at once.
 *
 * @param channel The channel.
 * @param now The current instant.
 * @returns The delivery.
 */
export function newDelivery(channel: Channel, now: number): Delivery {
  return {
    channel: channel.id,
    kind: channel.kind,
    target: channelTarget(channel),
    state: "pending",
    attempts: 0,
    firstTriedAt: null,
    nextAt: now,
    sentAt: null,
    error: null,
  };
}

/**
 * An alert as the API shows it.
 *
 * @param alert The alert, as stored.
 * @param deliveries Its deliveries, as stored.
 * @returns The alert, with its words and deliveries.
 */
export function publicAlert(alert: AlertRecord, deliveries: readonly Delivery[]): PublicAlert {
  return {
    ...alert.facts,
    id: alert.id,
    createdAt: alert.createdAt,
    summary: headline(alert.facts),
    deliveries: deliveries.map(publicDelivery),
  };
}

/** Alerts' part of the dashboard's store. */
export class AlertStore {
  readonly #kv: Deno.Kv;

  /**
   * Makes the store.
   *
   * @param kv The open KV store; the caller closes it.
   */
  constructor(kv: Deno.Kv) {
    this.#kv = kv;
  }

  /**
   * Adds a channel.
   *
   * @param id The dashboard id.
   * @param channel The channel, checked.
   * @param dashboardUrl The dashboard page's address, for the links in alerts.
   * @param now The current instant.
   * @returns The channel with its id, or null when the dashboard has
   * {@linkcode MAX_CHANNELS} already.
   */
  async addChannel(
    id: string,
    channel: NewChannel,
    dashboardUrl: string,
    now: number,
  ): Promise<Channel | null> {
    if ((await this.listChannels(id)).length >= MAX_CHANNELS) return null;
    const stored = {
      ...channel,
      id: base64url(crypto.getRandomValues(new Uint8Array(9))),
      createdAt: now,
      dashboardUrl,
    } as Channel;
    const key = ["alertChannel", id, stored.id];
    const result = await this.#kv.atomic().check({ key, versionstamp: null }).set(key, stored)
      .commit();
    if (!result.ok) throw new Error("Cannot add a channel: its random id exists");
    return stored;
  }

  /**
   * A dashboard's channels, oldest first.
   *
   * @param id The dashboard id.
   * @returns The channels, with their secrets.
   */
  async listChannels(id: string): Promise<Channel[]> {
    const entries = await Array.fromAsync(this.#kv.list<Channel>({ prefix: ["alertChannel", id] }));
    return entries.map((entry) => entry.value)
      .sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /**
   * One channel.
   *
   * @param id The dashboard id.
   * @param channelId The channel id.
   * @returns The channel, or null.
   */
  async getChannel(id: string, channelId: string): Promise<Channel | null> {
    return (await this.#kv.get<Channel>(["alertChannel", id, channelId])).value;
  }

  /**
   * Removes a channel; its deliveries still due are dropped when they come up.
   *
   * @param id The dashboard id.
   * @param channelId The channel id.
   * @returns Whether there was such a channel.
   */
  async deleteChannel(id: string, channelId: string): Promise<boolean> {
    const key = ["alertChannel", id, channelId];
    const entry = await this.#kv.get(key);
    if (entry.versionstamp === null) return false;
    await this.#kv.delete(key);
    return true;
  }

  /**
   * Mutes or unmutes a host (`tag` null) or a job.
   *
   * @param id The dashboard id.
   * @param host The host.
   * @param tag The job's tag, or null for the whole host.
   * @param muted Whether to mute.
   * @param now The current instant.
   */
  async setMute(
    id: string,
    host: string,
    tag: string | null,
    muted: boolean,
    now: number,
  ): Promise<void> {
    const key = tag === null ? ["alertMute", id, host] : ["alertMute", id, host, tag];
    if (muted) await this.#kv.set(key, { at: now });
    else await this.#kv.delete(key);
  }

  /**
   * A dashboard's mutes, by host then tag.
   *
   * @param id The dashboard id.
   * @returns The mutes.
   */
  async listMutes(id: string): Promise<Mute[]> {
    const mutes: Mute[] = [];
    for await (const entry of this.#kv.list<{ at: number }>({ prefix: ["alertMute", id] })) {
      const tag = entry.key.length === 4 ? entry.key[3] as string : null;
      mutes.push({ host: entry.key[2] as string, tag, at: entry.value.at });
    }
    return mutes;
  }

  /**
   * What the engine remembers of a dashboard's jobs for missed runs, by host and tag.
   *
   * @param id The dashboard id.
   * @returns The watches, keyed `host\ntag`.
   */
  async listWatches(id: string): Promise<Map<string, Deno.KvEntry<WatchState>>> {
    const watches = new Map<string, Deno.KvEntry<WatchState>>();
    for await (const entry of this.#kv.list<WatchState>({ prefix: ["alertWatch", id] })) {
      watches.set(`${entry.key[2] as string}\n${entry.key[3] as string}`, entry);
    }
    return watches;
  }

  /**
   * A job's failure state, as an entry to write back with {@linkcode raise}.
   *
   * @param id The dashboard id.
   * @param host The host.
   * @param tag The job's tag.
   * @returns The entry.
   */
  getFailureState(id: string, host: string, tag: string): Promise<Deno.KvEntryMaybe<FailureState>> {
    return this.#kv.get<FailureState>(["alertFail", id, host, tag]);
  }

  /**
   * Several jobs' failure states at once, by tag.
   *
   * @param id The dashboard id.
   * @param host The host.
   * @param tags The jobs' tags.
   * @returns The entries, by tag (each tag once).
   */
  async getFailureStates(
    id: string,
    host: string,
    tags: readonly string[],
  ): Promise<Map<string, Deno.KvEntryMaybe<FailureState>>> {
    const unique = [...new Set(tags)];
    const states = new Map<string, Deno.KvEntryMaybe<FailureState>>();
    for (let i = 0; i < unique.length; i += 10) {
      const group = unique.slice(i, i + 10);
      const entries = await this.#kv.getMany<FailureState[]>(
        group.map((tag) => ["alertFail", id, host, tag]),
      );
      group.forEach((tag, j) => states.set(tag, entries[j]!));
    }
    return states;
  }

  /**
   * Forgets the states of jobs that are gone.
   *
   * @param id The dashboard id.
   * @param jobs The jobs listed now, as `host\ntag`.
   */
  async forgetJobsExcept(id: string, jobs: ReadonlySet<string>): Promise<void> {
    for (const kind of ["alertWatch", "alertFail"]) {
      for await (const entry of this.#kv.list({ prefix: [kind, id] })) {
        if (!jobs.has(`${entry.key[2] as string}\n${entry.key[3] as string}`)) {
          await this.#kv.atomic().check(entry).delete(entry.key).commit();
        }
      }
    }
  }

  /**
   * What the engine remembers of a dashboard's hosts.
   *
   * @param id The dashboard id.
   * @returns The entries, by host.
   */
  async listHostStates(id: string): Promise<Map<string, Deno.KvEntry<HostState>>> {
    const hosts = new Map<string, Deno.KvEntry<HostState>>();
    for await (const entry of this.#kv.list<HostState>({ prefix: ["alertHost", id] })) {
      hosts.set(entry.key[2] as string, entry);
    }
    return hosts;
  }

  /**
   * A host's state, as an entry to write back with {@linkcode raise}.
   *
   * @param id The dashboard id.
   * @param host The host.
   * @returns The entry.
   */
  getHostState(id: string, host: string): Promise<Deno.KvEntryMaybe<HostState>> {
    return this.#kv.get<HostState>(["alertHost", id, host]);
  }

  /**
   * A job's watch for missed runs, as an entry to write back with {@linkcode raise}.
   *
   * @param id The dashboard id.
   * @param host The host.
   * @param tag The job's tag.
   * @returns The entry.
   */
  getWatch(id: string, host: string, tag: string): Promise<Deno.KvEntryMaybe<WatchState>> {
    return this.#kv.get<WatchState>(["alertWatch", id, host, tag]);
  }

  /**
   * Whether an event has been raised already.
   *
   * @param id The dashboard id.
   * @param key The event's key.
   * @returns The claim's entry; its versionstamp is null when the event is unclaimed.
   */
  getClaim(id: string, key: string): Promise<Deno.KvEntryMaybe<unknown>> {
    return this.#kv.get(["alertClaim", id, key]);
  }

  /**
   * Writes the engine's state changes and, when given, raises an alert: claims
   * its event, records it, and queues a delivery to each channel, due now. All
   * in one atomic write that commits only if every entry read is unchanged and
   * the event unclaimed.
   *
   * @param id The dashboard id.
   * @param writes The state changes, each with the entry as read.
   * @param raise The alert, its event's key, the claim as read, and its channels; or null.
   * @param now The current instant.
   * @returns The alert raised (null if none, or if the dashboard is gone), or
   * false when an entry changed since read (read again and retry).
   */
  async raise(
    id: string,
    writes: readonly StateWrite[],
    raise: {
      facts: AlertFacts;
      key: string;
      claim: Deno.KvEntryMaybe<unknown>;
      channels: readonly Channel[];
    } | null,
    now: number,
  ): Promise<AlertRecord | null | false> {
    // Nothing is written for a dashboard deleted meanwhile: its keys would outlive it.
    const dashboard = await this.#kv.get(["dash", id]);
    if (dashboard.versionstamp === null) return null;
    const operation = this.#kv.atomic().check(dashboard);
    for (const { entry, value } of writes) {
      operation.check(entry);
      if (value === null) operation.delete(entry.key);
      else operation.set(entry.key, value);
    }
    let alert: AlertRecord | null = null;
    if (raise !== null && raise.claim.versionstamp === null) {
      alert = {
        id: base64url(crypto.getRandomValues(new Uint8Array(12))),
        createdAt: now,
        facts: raise.facts,
        channels: raise.channels.map((channel) => channel.id),
      };
      operation.check(raise.claim)
        .set(raise.claim.key, { alertId: alert.id, createdAt: now })
        .set(["alert", id, now, alert.id], alert);
      for (const channel of raise.channels) {
        const due = { id, createdAt: now, alertId: alert.id, channelId: channel.id };
        operation.set(deliveryKey(due), newDelivery(channel, now)).set(dueKey(due, now), null);
      }
    } else if (raise !== null) {
      operation.check(raise.claim);
    }
    const result = await operation.commit();
    return result.ok ? alert : false;
  }

  /**
   * A dashboard's alerts, newest first, each with its deliveries.
   *
   * @param id The dashboard id.
   * @param query The most alerts (1 to 500), and only those raised before an instant.
   * @returns The alerts.
   */
  async listAlerts(
    id: string,
    query: { limit: number; before?: number | undefined },
  ): Promise<PublicAlert[]> {
    const prefix = ["alert", id];
    const selector = query.before === undefined
      ? { prefix }
      : { prefix, end: [...prefix, query.before] };
    const alerts = await Array.fromAsync(
      this.#kv.list<AlertRecord>(selector, { reverse: true, limit: query.limit }),
    );
    return await Promise.all(alerts.map(async ({ value: alert }) => {
      const keys = alert.channels.map((channelId) =>
        deliveryKey({ id, createdAt: alert.createdAt, alertId: alert.id, channelId })
      );
      const deliveries: Delivery[] = [];
      for (let i = 0; i < keys.length; i += 10) {
        const entries = await this.#kv.getMany<Delivery[]>(keys.slice(i, i + 10));
        for (const entry of entries) if (entry.value !== null) deliveries.push(entry.value);
      }
      return publicAlert(alert, deliveries);
    }));
  }

  /**
   * Deliveries due by `now`, across every dashboard, oldest first.
   *
   * @param now The current instant.
   * @param limit The most to list.
   * @returns The deliveries.
   */
  async dueDeliveries(now: number, limit: number): Promise<DueDelivery[]> {
    const entries = await Array.fromAsync(
      this.#kv.list({ prefix: ["alertDue"], end: ["alertDue", now + 1] }, { limit }),
    );
    return entries.map(({ key }) => ({
      dueAt: key[1] as number,
      id: key[2] as string,
      createdAt: key[3] as number,
      alertId: key[4] as string,
      channelId: key[5] as string,
    }));
  }

  /**
   * Takes a due delivery for one try: moves its queue entry to `leaseUntil`
   * (where another instance finds it, should this one never finish) and counts
   * the try. Entries of deliveries that are done, or gone with their dashboard,
   * are dropped.
   *
   * @param due The delivery, as listed.
   * @param now The current instant.
   * @param leaseMs How long the try may take.
   * @returns The leased delivery with its alert and channel, or null when another
   * instance took it or there is nothing to try.
   */
  async lease(due: DueDelivery, now: number, leaseMs: number): Promise<LeasedDelivery | null> {
    const [queued, stored] = await this.#kv.getMany<[null, Delivery]>([
      dueKey(due, due.dueAt),
      deliveryKey(due),
    ]);
    if (queued.versionstamp === null) return null;
    if (stored.value === null || stored.value.state === "sent" || stored.value.state === "failed") {
      await this.#kv.atomic().check(queued).delete(queued.key).commit();
      return null;
    }
    const leaseUntil = now + leaseMs;
    const delivery: Delivery = {
      ...stored.value,
      state: "sending",
      attempts: stored.value.attempts + 1,
      firstTriedAt: stored.value.firstTriedAt ?? now,
      nextAt: leaseUntil,
    };
    const result = await this.#kv.atomic().check(queued).check(stored)
      .delete(queued.key)
      .set(dueKey(due, leaseUntil), null)
      .set(stored.key, delivery)
      .commit();
    if (!result.ok) return null;
    const [alert, channel] = await this.#kv.getMany<[AlertRecord, Channel]>([
      ["alert", due.id, due.createdAt, due.alertId],
      ["alertChannel", due.id, due.channelId],
    ]);
    return { ...due, leaseUntil, delivery, alert: alert.value, channel: channel.value };
  }

  /**
   * Records a try's outcome, if the lease still holds: sent; failed, to be
   * tried again at `retryAt`; or failed for good (`retryAt` null).
   *
   * @param leased The delivery, as leased.
   * @param outcome What the try came to.
   * @param now The current instant.
   * @returns The delivery as recorded, or null when the lease was lost.
   */
  async finish(leased: LeasedDelivery, outcome: TryOutcome, now: number): Promise<Delivery | null> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const stored = await this.#kv.get<Delivery>(deliveryKey(leased));
      if (stored.value?.state !== "sending" || stored.value.nextAt !== leased.leaseUntil) {
        return null;
      }
      const operation = this.#kv.atomic().check(stored).delete(dueKey(leased, leased.leaseUntil));
      let delivery: Delivery;
      if (outcome.ok) {
        delivery = { ...stored.value, state: "sent", nextAt: null, sentAt: now, error: null };
      } else if (outcome.retryAt !== null) {
        delivery = {
          ...stored.value,
          state: "pending",
          nextAt: outcome.retryAt,
          error: outcome.error,
        };
        operation.set(dueKey(leased, outcome.retryAt), null);
      } else {
        delivery = { ...stored.value, state: "failed", nextAt: null, error: outcome.error };
      }
      if ((await operation.set(stored.key, delivery).commit()).ok) return delivery;
    }
    throw new Error("Cannot record a delivery: other writers kept changing it");
  }

  /**
   * Applies a dashboard's age limit to its alerts, and keeps at most
   * {@linkcode MAX_ALERTS}: older alerts go with their deliveries, queue entries
   * and claims.
   *
   * @param id The dashboard id.
   * @param retentionDays The dashboard's `retentionDays`.
   * @param now The current instant.
   */
  async pruneAlerts(id: string, retentionDays: number, now: number): Promise<void> {
    const cutoff = now - retentionDays * DAY_MS;
    const doomed = await Array.fromAsync(
      this.#kv.list<AlertRecord>({ prefix: ["alert", id], end: ["alert", id, cutoff] }),
    );
    const kept = await Array.fromAsync(
      this.#kv.list<AlertRecord>({ prefix: ["alert", id], start: ["alert", id, cutoff] }, {
        reverse: true,
      }),
    );
    doomed.push(...kept.slice(MAX_ALERTS));
    for (const { key, value: alert } of doomed) {
      const deliveries = await Array.fromAsync(
        this.#kv.list<Delivery>({ prefix: ["alertDelivery", id, alert.createdAt, alert.id] }),
      );
      const operation = this.#kv.atomic().delete(key);
      for (const entry of deliveries) {
        operation.delete(entry.key);
        const due = {
          id,
          createdAt: alert.createdAt,
          alertId: alert.id,
          channelId: entry.value.channel,
        };
        if (entry.value.nextAt !== null) operation.delete(dueKey(due, entry.value.nextAt));
      }
      await operation.commit();
    }
    // A claim outlives its alert only by age: the engine's states keep an event
    // from being raised twice, the claim makes sure of it while it lasts.
    for await (
      const entry of this.#kv.list<{ createdAt: number }>({ prefix: ["alertClaim", id] })
    ) {
      if (entry.value.createdAt < cutoff) await this.#kv.delete(entry.key);
    }
  }

  /**
   * Drops a deleted dashboard's deliveries from the queue (its other keys go
   * with its prefixes).
   *
   * @param id The dashboard id.
   */
  async forgetDashboard(id: string): Promise<void> {
    for await (const entry of this.#kv.list({ prefix: ["alertDue"] })) {
      if (entry.key[2] === id) await this.#kv.delete(entry.key);
    }
  }
}
