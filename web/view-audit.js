// Audit: the event history with filters (type, config, actor, time range),
// paginated with the API's cursor, newest first; every event links to the
// configs as they were at that point.

import { api } from "./api.js";
import {
  h,
  fill,
  badge,
  eventKind,
  summarize,
  time,
  route,
  debounce,
  EVENT_TYPES,
} from "./util.js";

const CONFIG_CHANGES = "ConfigCreated,ConfigUpdated,ConfigDeleted";
const FILTERS = ["type", "config", "actor", "since", "until", "limit"];

// Cursors of the pages before the current one, for "Newer"; kept while the
// filters stay the same.
let trail = { key: null, cursors: [] };

export async function render(root, { query }) {
  const filters = {};
  for (const k of FILTERS) filters[k] = query.get(k) || "";
  const cursor = query.get("cursor") || "";
  const key = JSON.stringify(filters);
  if (trail.key !== key) trail = { key, cursors: [] };
  if (!cursor) trail.cursors = [];

  const configs = await api("api/configs");
  const form = filterForm(filters, configs);
  const results = h("section", { class: "panel", id: "audit-results", "aria-labelledby": "audit-results-title" });
  fill(
    root,
    h("div", { class: "page-head" }, h("h1", {}, "Audit history"), h("p", { class: "page-summary" }, "Every change, in order. Select an event’s number to see all configs as they were then.")),
    form,
    results,
  );

  let page;
  let newer = 0;
  const load = async () => {
    const q = new URLSearchParams();
    for (const k of FILTERS) if (filters[k]) q.set(k, filters[k]);
    if (!filters.limit) q.set("limit", "50");
    if (cursor) q.set("cursor", cursor);
    try {
      page = await api(`api/events?${q}`);
    } catch (e) {
      if (e.status !== 400) throw e;
      fill(
        results,
        h("h2", { id: "audit-results-title" }, "Events"),
        h("p", { class: "invalid", role: "alert" }, badge("bad", "Invalid filter"), " ", e.message),
      );
      page = null;
      return;
    }
    draw();
  };

  const draw = (freshFrom) => {
    const events = page.events;
    const pager = h(
      "nav",
      { class: "pager", "aria-label": "Pages" },
      cursor
        ? [
            h("a", { class: "button small", href: route("audit", { ...filters }) }, "⇤ Newest"),
            h(
              "a",
              {
                class: "button small",
                id: "page-newer",
                href: route("audit", { ...filters, cursor: trail.cursors[trail.cursors.length - 1] }),
                onclick: () => trail.cursors.pop(),
              },
              "← Newer",
            ),
          ]
        : null,
      page.next_cursor
        ? h(
            "a",
            {
              class: "button small",
              id: "page-older",
              href: route("audit", { ...filters, cursor: page.next_cursor }),
              onclick: () => trail.cursors.push(cursor),
            },
            "Older →",
          )
        : h("span", { class: "muted" }, events.length ? "End of the history" : ""),
    );
    fill(
      results,
      h(
        "div",
        { class: "panel-head" },
        h("h2", { id: "audit-results-title" }, "Events"),
        h(
          "p",
          { class: "muted", id: "audit-count" },
          events.length
            ? `#${events[0].seq} to #${events[events.length - 1].seq} · ${events.length} shown · newest event in the log #${page.last_seq}`
            : page.next_cursor
              ? `No match down to event #${page.next_cursor} (a page reads at most 10,000 events); “Older →” reads on · newest event in the log #${page.last_seq}`
              : `No event matches · newest event in the log #${page.last_seq}`,
        ),
      ),
      newer
        ? h(
            "p",
            { class: "notice" },
            badge("info", `${newer} new event${newer === 1 ? "" : "s"} in the log`),
            " since this page was loaded. ",
            h("a", { href: route("audit", { ...filters }) }, "Show the newest page"),
          )
        : null,
      events.length
        ? h(
            "div",
            { class: "table-wrap" },
            h(
              "table",
              { class: "audit stack", id: "audit-table" },
              h(
                "thead",
                {},
                h("tr", {}, ["Event", "Time", "Type", "Actor", "What happened", ""].map((t) => h("th", { scope: "col" }, t))),
              ),
              h(
                "tbody",
                {},
                events.map((ev) =>
                  h(
                    "tr",
                    { class: freshFrom && ev.seq >= freshFrom ? "fresh" : "", dataset: { seq: ev.seq, type: ev.type } },
                    h("th", { scope: "row" }, `#${ev.seq}`),
                    h("td", { class: "nowrap", "data-label": "Time" }, time(ev.at)),
                    h("td", {}, badge(eventKind(ev.type), ev.type)),
                    h("td", { "data-label": "Actor" }, ev.actor),
                    h(
                      "td",
                      { class: "wrap" },
                      summarize(ev),
                      ev.config
                        ? [" ", h("a", { href: route("configs", "history", ev.config), class: "subtle" }, "history")]
                        : null,
                      details(ev),
                    ),
                    h(
                      "td",
                      { class: "nowrap" },
                      h(
                        "a",
                        { href: route("asof", ev.seq), class: "button small", "aria-label": `View the configs as of event ${ev.seq}` },
                        "View as of",
                      ),
                    ),
                  ),
                ),
              ),
            ),
          )
        : h("p", { class: "empty-title" }, "No event matches these filters."),
      pager,
    );
  };
  await load();

  const reload = debounce(async () => {
    const before = page && page.events.length ? page.events[0].seq : 0;
    try {
      await load();
      if (page) draw(before + 1);
    } catch {
      // The banner reports it.
    }
  }, 300);

  return {
    onEvent() {
      if (cursor) {
        newer += 1;
        if (page) draw();
      } else {
        reload();
      }
    },
    refresh: reload,
    destroy: () => reload.cancel(),
  };
}

function details(ev) {
  return h(
    "details",
    { class: "event-details" },
    h("summary", {}, "Details"),
    h("pre", {}, JSON.stringify(ev.data, null, 2)),
  );
}

/** datetime-local wants "YYYY-MM-DDTHH:MM" in local time; the URL keeps UTC. */
function toLocalInput(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

function fromLocalInput(value, endOfMinute) {
  if (!value) return "";
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) return "";
  if (endOfMinute) d.setSeconds(59, 999);
  return d.toISOString();
}

function filterForm(filters, configs) {
  const typeSelect = h(
    "select",
    { id: "filter-type", name: "type", value: filters.type },
    h("option", { value: "" }, "Any type"),
    h("option", { value: CONFIG_CHANGES }, "Any config change"),
    EVENT_TYPES.map((t) => h("option", { value: t }, t)),
  );
  const config = h("input", {
    id: "filter-config",
    name: "config",
    type: "text",
    list: "config-names",
    autocomplete: "off",
    value: filters.config,
    placeholder: "any config",
  });
  const actor = h("input", {
    id: "filter-actor",
    name: "actor",
    type: "text",
    autocomplete: "off",
    value: filters.actor,
    placeholder: "e.g. ops",
  });
  const since = h("input", { id: "filter-since", name: "since", type: "datetime-local", value: toLocalInput(filters.since) });
  const until = h("input", { id: "filter-until", name: "until", type: "datetime-local", value: toLocalInput(filters.until) });
  const limit = h(
    "select",
    { id: "filter-limit", name: "limit", value: filters.limit || "50" },
    ["25", "50", "100", "250"].map((n) => h("option", { value: n }, n)),
  );
  const active = FILTERS.filter((k) => k !== "limit" && filters[k]).length;
  const grid = h(
    "div",
    { class: "filter-grid" },
    h("div", { class: "field" }, h("label", { for: "filter-type" }, "Type"), typeSelect),
    h(
      "div",
      { class: "field" },
      h("label", { for: "filter-config" }, "Config"),
      config,
      h("datalist", { id: "config-names" }, configs.map((c) => h("option", { value: c.name }))),
    ),
    h("div", { class: "field" }, h("label", { for: "filter-actor" }, "Actor"), actor),
    h("div", { class: "field" }, h("label", { for: "filter-since" }, "From (local time)"), since),
    h("div", { class: "field" }, h("label", { for: "filter-until" }, "Until (local time)"), until),
    h("div", { class: "field" }, h("label", { for: "filter-limit" }, "Per page"), limit),
    h(
      "div",
      { class: "field actions" },
      h("button", { type: "submit", class: "primary", id: "apply-filters" }, "Apply"),
      h("a", { class: "button", href: "#/audit" }, "Clear"),
    ),
  );
  const form = h(
    "form",
    { id: "audit-filters", "aria-label": "Filter events" },
    h(
      "details",
      // Open on wide windows, or when a filter is set; folded on a phone.
      { class: "panel filters", open: active > 0 || window.innerWidth > 700 },
      h("summary", {}, active ? `Filters (${active} set)` : "Filters"),
      grid,
    ),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    location.hash = route("audit", {
      type: typeSelect.value,
      config: config.value.trim(),
      actor: actor.value.trim(),
      since: fromLocalInput(since.value, false),
      until: fromLocalInput(until.value, true),
      limit: limit.value === "50" ? "" : limit.value,
    });
  });
  return form;
}
