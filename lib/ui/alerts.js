// @ts-check
/**
 * The alerts view: where alerts go (channels added, tested and removed), when a
 * run counts as missed and a machine as silent, which machines and jobs are
 * muted, and the history of alerts with each channel's delivery. The history
 * refreshes every few seconds; the rest changes only when the reader changes it.
 *
 * @module
 */

import { ApiError } from "./api.js";
import { h, morph } from "./dom.js";
import { formatRelative, formatTime } from "./format.js";
import { badge, cell, jobLabel } from "./jobs.js";
import { every } from "./poll.js";

/** @typedef {import("./api.js").Api} Api */
/** @typedef {import("./api.js").Channel} Channel */
/** @typedef {import("./api.js").Alert} Alert */
/** @typedef {import("./api.js").Mute} Mute */
/** @typedef {import("./api.js").JobRow} JobRow */
/** @typedef {import("./mutes.js").MuteList} MuteList */
/** @typedef {import("./app.js").ViewContext} ViewContext */
/** @typedef {import("../protocol/wire.ts").JobState} JobState */

/** How often the history refreshes. */
const REFRESH_MS = 5000;

/** Each kind of channel: its name, and what to paste into its address field. */
const KINDS = /** @type {const} */ ({
  webhook: {
    name: "Webhook (JSON)",
    help: "Koi posts a JSON body to this address for each alert (the README shows its fields).",
    placeholder: "https://example.com/koi-alerts",
  },
  slack: {
    name: "Slack",
    help: "A Slack incoming webhook's address.",
    placeholder: "https://hooks.slack.com/services/…",
  },
  discord: {
    name: "Discord",
    help: "A Discord channel's webhook address.",
    placeholder: "https://discord.com/api/webhooks/…",
  },
  ntfy: {
    name: "ntfy",
    help:
      "The ntfy topic's address; anyone who knows a topic can read it, so pick one hard to guess.",
    placeholder: "https://ntfy.sh/your-topic",
  },
  email: { name: "Email", help: "", placeholder: "" },
});

/** Each event's badge and word in the history. */
const EVENTS = /** @type {const} */ ({
  failed: { state: "failed", word: "failed" },
  recovered: { state: "ok", word: "recovered" },
  missed: { state: "late", word: "missed" },
  "host-silent": { state: "late", word: "silent" },
  "host-back": { state: "ok", word: "back" },
  test: { state: "never", word: "test" },
});

/**
 * A labelled field.
 *
 * @param {string} label Its label.
 * @param {HTMLElement} input The input.
 * @param {string} [help] A line of help under it.
 * @returns {HTMLElement}
 */
function field(label, input, help) {
  const helpId = help ? `${input.id}-help` : null;
  if (helpId !== null) input.setAttribute("aria-describedby", helpId);
  return h(
    "div",
    { class: "field" },
    h("label", { for: input.id }, label),
    input,
    help ? h("p", { class: "help", id: helpId }, help) : null,
  );
}

/**
 * A delivery as the history words it.
 *
 * @param {Alert["deliveries"][number]} delivery The delivery.
 * @param {number} now The current instant.
 * @returns {HTMLElement}
 */
function deliveryLine(delivery, now) {
  const kind = KINDS[delivery.kind].name;
  const tries = delivery.attempts === 1 ? "1 try" : `${delivery.attempts} tries`;
  /** @type {[JobState, string, string]} */
  const [state, word, detail] = delivery.state === "sent"
    ? ["ok", "sent", delivery.sentAt === null ? "" : formatTime(delivery.sentAt, now)]
    : delivery.state === "failed"
    ? ["failed", "failed", `${delivery.error ?? ""} (${tries}; not tried again)`]
    : delivery.attempts === 0
    ? ["running", "sending", ""]
    : [
      "late",
      "retrying",
      `${delivery.error ?? ""} (${tries}; next ${
        delivery.nextAttemptAt === null ? "soon" : formatRelative(delivery.nextAttemptAt, now)
      })`,
    ];
  return h(
    "li",
    { "data-key": delivery.channel },
    badge(state, word),
    " ",
    h("span", { class: "channel-kind" }, kind),
    " ",
    h("span", { class: "target" }, delivery.target),
    detail === "" ? null : h("span", { class: "reason" }, ` ${detail}`),
  );
}

/**
 * The history's table, newest first.
 *
 * @param {readonly Alert[]} alerts The alerts.
 * @param {number} now The current instant.
 * @returns {HTMLElement}
 */
export function historyContent(alerts, now) {
  if (alerts.length === 0) {
    return h("p", { class: "muted empty-history" }, "No alerts yet.");
  }
  return h(
    "div",
    { class: "table-card" },
    h(
      "table",
      { class: "alerts-table" },
      h("caption", { class: "sr-only" }, "Alerts, newest first"),
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          h("th", { scope: "col" }, "When"),
          h("th", { scope: "col" }, "Alert"),
          h("th", { scope: "col" }, "Delivery"),
        ),
      ),
      h(
        "tbody",
        {},
        ...alerts.map((alert) => {
          const event = EVENTS[alert.event];
          return h(
            "tr",
            { "data-key": alert.id, class: `alert ${alert.event}` },
            h(
              "th",
              { scope: "row" },
              h(
                "time",
                { datetime: new Date(alert.createdAt).toISOString() },
                formatTime(alert.createdAt, now, { seconds: true }),
              ),
            ),
            cell(
              "Alert",
              badge(event.state, event.word),
              h("span", { class: "summary-text" }, alert.summary),
            ),
            cell(
              "Delivery",
              alert.deliveries.length === 0 ? h("span", { class: "muted" }, "no channel") : h(
                "ul",
                { class: "deliveries" },
                ...alert.deliveries.map((d) => deliveryLine(d, now)),
              ),
            ),
          );
        }),
      ),
    ),
  );
}

/**
 * The channels' list, each with "Send test" and "Remove".
 *
 * @param {readonly Channel[]} channels The channels.
 * @param {{ test: (channel: Channel) => void, remove: (channel: Channel) => void }} actions
 * @returns {HTMLElement}
 */
function channelList(channels, actions) {
  if (channels.length === 0) {
    return h("p", { class: "muted" }, "No channel yet: alerts are only kept in the history below.");
  }
  return h(
    "ul",
    { class: "channels" },
    ...channels.map((channel) => {
      const test = h("button", { type: "button", class: "secondary small" }, "Send test");
      const remove = h("button", { type: "button", class: "secondary small" }, "Remove");
      test.setAttribute("aria-label", `Send a test alert to ${channel.target}`);
      remove.setAttribute("aria-label", `Remove the channel ${channel.target}`);
      test.addEventListener("click", () => actions.test(channel));
      remove.addEventListener("click", () => actions.remove(channel));
      return h(
        "li",
        { class: "channel", "data-key": channel.id },
        h(
          "span",
          { class: "channel-text" },
          h("strong", { class: "channel-kind" }, KINDS[channel.kind].name),
          " ",
          h("span", { class: "target" }, channel.target),
        ),
        h("span", { class: "channel-actions" }, test, remove),
      );
    }),
  );
}

/**
 * The form that adds a channel.
 *
 * @param {Api} api The API.
 * @param {(channel: Channel) => void} added Told of the channel added.
 * @returns {HTMLFormElement}
 */
function addChannelForm(api, added) {
  const kind = /** @type {HTMLSelectElement} */ (h(
    "select",
    { id: "channel-kind", name: "kind" },
    ...Object.entries(KINDS).map(([value, { name }]) => h("option", { value }, name)),
  ));
  const url = h("input", { id: "channel-url", type: "text", name: "url", inputmode: "url" });
  const urlHelp = h("p", { class: "help", id: "channel-url-help" });
  url.setAttribute("aria-describedby", "channel-url-help");
  const urlField = h(
    "div",
    { class: "field wide" },
    h("label", { for: "channel-url" }, "Address"),
    url,
    urlHelp,
  );
  const input = (/** @type {string} */ id, /** @type {Record<string, string>} */ props = {}) =>
    h("input", { id, type: "text", name: id, ...props });
  const to = input("email-to", { autocomplete: "email", placeholder: "ops@example.com" });
  const from = input("smtp-from", { placeholder: "koi@example.com" });
  const host = input("smtp-host", { placeholder: "smtp.example.com" });
  const port = input("smtp-port", { type: "number", min: "1", max: "65535", value: "587" });
  const security = /** @type {HTMLSelectElement} */ (h(
    "select",
    { id: "smtp-tls", name: "tls" },
    h("option", { value: "starttls" }, "STARTTLS (port 587)"),
    h("option", { value: "tls" }, "TLS (port 465)"),
    h("option", { value: "none" }, "None (a server on this machine only)"),
  ));
  const user = input("smtp-user", { autocomplete: "off" });
  const password = input("smtp-password", { type: "password", autocomplete: "new-password" });
  const emailFields = h(
    "div",
    { class: "fields email-fields", hidden: true },
    field("Send to", to, "One address, or several separated by commas."),
    field("From", from),
    field("SMTP server", host),
    field("Port", port),
    field("Security", security),
    field("User (if the server asks)", user),
    field("Password", password, "Kept on the dashboard server only; never shown again."),
  );
  let portTouched = false;
  port.addEventListener("input", () => portTouched = true);
  security.addEventListener("change", () => {
    if (!portTouched) {
      port.value = { starttls: "587", tls: "465", none: "25" }[security.value] ?? "587";
    }
  });
  const show = () => {
    const email = kind.value === "email";
    urlField.hidden = email;
    emailFields.hidden = !email;
    if (!email) {
      const about = KINDS[/** @type {keyof typeof KINDS} */ (kind.value)];
      urlHelp.textContent = about.help;
      url.setAttribute("placeholder", about.placeholder);
    }
  };
  kind.addEventListener("change", show);
  show();
  const submit = h("button", { type: "submit", class: "primary" }, "Add channel");
  const error = h("p", { class: "field-message", role: "alert" });
  const form = h(
    "form",
    { class: "add-channel", "aria-label": "Add a channel" },
    h("h3", {}, "Add a channel"),
    h("div", { class: "fields" }, field("Kind", kind), urlField),
    emailFields,
    h("div", { class: "form-actions" }, error, submit),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    /** @type {Record<string, unknown>} */
    const body = kind.value === "email"
      ? {
        kind: "email",
        to: to.value.trim(),
        smtp: {
          host: host.value.trim(),
          port: Number(port.value),
          tls: security.value,
          from: from.value.trim(),
          ...(user.value === "" ? {} : { user: user.value }),
          ...(password.value === "" ? {} : { password: password.value }),
        },
      }
      : { kind: kind.value, url: url.value.trim() };
    submit.disabled = true;
    try {
      const channel = await api.addChannel(body);
      url.value = "";
      password.value = "";
      added(channel);
    } catch (failure) {
      error.textContent = failure instanceof ApiError
        ? `Cannot add the channel: ${failure.message}`
        : `Cannot add the channel: ${/** @type {Error} */ (failure).message}`;
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

/**
 * The form for when a run is missed and a machine silent.
 *
 * @param {Api} api The API.
 * @param {import("../protocol/wire.ts").Settings} settings The settings now.
 * @returns {HTMLFormElement}
 */
function timingForm(api, settings) {
  const minutes = (
    /** @type {string} */ id,
    /** @type {number} */ seconds,
    /** @type {number} */ min,
  ) =>
    h("input", {
      id,
      type: "number",
      min: String(min),
      step: "1",
      value: String(Math.round(seconds / 60)),
    });
  const grace = minutes("missed-grace", settings.missedGraceSeconds, 1);
  const silent = minutes("host-silent", settings.hostSilentSeconds, 1);
  const save = h("button", { type: "submit", class: "secondary" }, "Save");
  const status = h("p", { class: "form-note", role: "status" });
  const form = h(
    "form",
    { class: "timing", "aria-label": "When to alert" },
    h(
      "div",
      { class: "fields" },
      field(
        "Missed after (minutes)",
        grace,
        "A scheduled run that has not started this long after its time is missed. The server " +
          "works the times out from each job's schedule.",
      ),
      field(
        "Machine silent after (minutes)",
        silent,
        "Nothing heard from a machine for this long: one alert for the machine, none for its " +
          "jobs' missed runs.",
      ),
    ),
    h("div", { class: "form-actions" }, status, save),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    save.disabled = true;
    status.textContent = "";
    try {
      const saved = await api.patchSettings({
        missedGraceSeconds: Math.round(Number(grace.value) * 60),
        hostSilentSeconds: Math.round(Number(silent.value) * 60),
      });
      grace.value = String(Math.round(saved.missedGraceSeconds / 60));
      silent.value = String(Math.round(saved.hostSilentSeconds / 60));
      status.textContent = "Saved.";
    } catch (failure) {
      status.textContent = `Cannot save: ${/** @type {Error} */ (failure).message}`;
    } finally {
      save.disabled = false;
    }
  });
  return form;
}

/**
 * The mutes: each with "Unmute", and a form to mute a machine or one of its jobs.
 *
 * @param {MuteList} muteList The page's mutes, which it changes (and reads again).
 * @param {readonly JobRow[]} jobs Every job, for the pickers.
 * @param {() => void} changed Told when a mute was added or removed.
 * @returns {{ element: HTMLElement, show: (mutes: readonly Mute[]) => void }}
 */
function mutesPart(muteList, jobs, changed) {
  const list = h("div", { class: "mutes" });
  const hosts = [...new Set(jobs.map((job) => job.host))].sort();
  const host = /** @type {HTMLSelectElement} */ (h(
    "select",
    { id: "mute-host", name: "host" },
    ...hosts.map((name) => h("option", { value: name }, name)),
  ));
  const job = /** @type {HTMLSelectElement} */ (h("select", { id: "mute-job", name: "job" }));
  const fillJobs = () => {
    job.replaceChildren(
      h("option", { value: "" }, "All its jobs"),
      ...jobs.filter((row) => row.host === host.value).map((row) =>
        h("option", { value: row.tag }, jobLabel(row))
      ),
    );
  };
  host.addEventListener("change", fillJobs);
  fillJobs();
  const mute = h("button", { type: "submit", class: "secondary" }, "Mute");
  const form = h(
    "form",
    { class: "mute-form", "aria-label": "Mute alerts" },
    h("div", { class: "fields" }, field("Machine", host), field("Job", job)),
    h("div", { class: "form-actions" }, mute),
  );
  form.hidden = hosts.length === 0;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (host.value === "") return;
    await muteList.set(host.value, job.value === "" ? null : job.value, true);
    changed();
  });
  const label = (/** @type {Mute} */ mute) => {
    if (mute.tag === null) return `${mute.host}: all its jobs`;
    const row = jobs.find((j) => j.host === mute.host && j.tag === mute.tag);
    return `${mute.host}: ${row ? jobLabel(row) : mute.tag}`;
  };
  return {
    element: h("div", {}, list, form),
    show(mutes) {
      list.replaceChildren(
        mutes.length === 0 ? h("p", { class: "muted" }, "Nothing is muted.") : h(
          "ul",
          { class: "mute-list" },
          ...mutes.map((mute) => {
            const unmute = h("button", { type: "button", class: "secondary small" }, "Unmute");
            unmute.setAttribute("aria-label", `Unmute ${label(mute)}`);
            unmute.addEventListener("click", async () => {
              await muteList.set(mute.host, mute.tag, false);
              changed();
            });
            return h("li", {}, h("span", {}, label(mute)), " ", unmute);
          }),
        ),
      );
    },
  };
}

/**
 * Shows the alerts view.
 *
 * @param {ViewContext} context The view's context.
 * @returns {Promise<void>} Settles when the view is left.
 */
export async function showAlerts(context) {
  const { api, signal } = context;
  context.setTitle("Alerts");
  const channelsBox = h("div", { class: "channel-box" }, h("p", { class: "muted" }, "Loading…"));
  const channelStatus = h("p", { class: "form-note", role: "status" });
  const timingBox = h("div", {});
  const mutesBox = h("div", {});
  const history = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  const updated = h("p", { class: "updated muted", "aria-live": "off" });
  context.main.replaceChildren(
    h("div", { class: "page-head" }, h("h1", { tabindex: -1 }, "Alerts"), updated),
    h(
      "p",
      { class: "intro" },
      "The dashboard tells you when a job fails, misses its time, or a machine goes silent, " +
        "and when it is fine again.",
    ),
    h(
      "section",
      { class: "card", "aria-labelledby": "channels-heading" },
      h("h2", { id: "channels-heading" }, "Where alerts go"),
      channelsBox,
      channelStatus,
      addChannelForm(api, (channel) => {
        channelStatus.textContent = `Added ${KINDS[channel.kind].name}: ${channel.target}.`;
        loadChannels();
      }),
    ),
    h(
      "section",
      { class: "card", "aria-labelledby": "timing-heading" },
      h("h2", { id: "timing-heading" }, "When to alert"),
      timingBox,
    ),
    h(
      "section",
      { class: "card", "aria-labelledby": "mutes-heading" },
      h("h2", { id: "mutes-heading" }, "Muted"),
      h(
        "p",
        { class: "help" },
        "A muted machine or job raises no alerts; the jobs page still shows its state.",
      ),
      mutesBox,
    ),
    h(
      "section",
      { "aria-labelledby": "history-heading", class: "alert-history" },
      h("h2", { id: "history-heading" }, "History"),
      history,
    ),
  );
  context.focusHeading();

  let refreshNow = () => {};
  const loadChannels = async () => {
    try {
      const channels = await api.channels(signal);
      channelsBox.replaceChildren(channelList(channels, {
        async test(channel) {
          channelStatus.textContent = "";
          try {
            await api.testChannel(channel.id);
            channelStatus.textContent =
              `Test alert sent to ${channel.target}: see the history below.`;
            refreshNow();
          } catch (failure) {
            channelStatus.textContent = `Cannot send a test: ${
              /** @type {Error} */ (failure).message
            }`;
          }
        },
        async remove(channel) {
          await api.removeChannel(channel.id).catch(context.failed);
          channelStatus.textContent = `Removed ${channel.target}.`;
          loadChannels();
        },
      }));
    } catch (failure) {
      context.failed(failure);
    }
  };
  // The page's shared list: the jobs view and job pages mark what it holds.
  const showMutes = () => mutes.show(context.mutes.mutes);
  const loadMutes = async () => {
    try {
      await context.mutes.reread(signal);
      showMutes();
    } catch (failure) {
      context.failed(failure);
    }
  };
  let mutes = { show: (/** @type {readonly Mute[]} */ _) => {} };
  try {
    // The jobs from the page's shared copy: only what changed since it was last asked.
    const [info] = await Promise.all([api.info(signal), context.feed.update()]);
    timingBox.replaceChildren(timingForm(api, info.settings));
    const jobs = await context.feed.withCommands(context.feed.jobs);
    const part = mutesPart(context.mutes, jobs, showMutes);
    mutes = part;
    mutesBox.replaceChildren(part.element);
  } catch (failure) {
    context.failed(failure);
  }
  await Promise.all([loadChannels(), loadMutes()]);
  const refresh = every(
    async () => {
      const alerts = await api.alerts(signal);
      context.problem(null);
      const now = Date.now();
      morph(history, h("div", {}, historyContent(alerts, now)));
      updated.textContent = `Updated ${formatTime(now, now, { seconds: true })}`;
    },
    REFRESH_MS,
    signal,
    context.failed,
  );
  refreshNow = refresh.now;
  await refresh.done;
}
