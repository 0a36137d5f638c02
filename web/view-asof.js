// Time travel: the configs as they were right after one event
// (GET /api/configs?at=<seq>), compared with the configs in force now.

import { api } from "./api.js";
import { h, fill, badge, eventKind, summarize, time, route, emptyState } from "./util.js";

export async function render(root, { parts }) {
  const seq = Number(parts[1]);
  if (!Number.isInteger(seq) || seq < 0) {
    fill(root, h("h1", {}, "View as of"), h("p", {}, `“${parts[1]}” is not an event number. `, h("a", { href: "#/audit" }, "Pick an event in the audit history"), "."));
    return {};
  }
  const [page, now] = await Promise.all([
    api(`api/events?from_seq=${seq}&to_seq=${seq}&limit=1`),
    api("api/configs"),
  ]);
  const last = page.last_seq;
  if (seq > last) {
    fill(
      root,
      h("h1", {}, `View as of event #${seq}`),
      h("div", { class: "panel" }, h("p", {}, `The log ends at event #${last}. `, h("a", { href: route("asof", last) }, `View as of #${last}`), ".")),
    );
    return {};
  }
  const then = await api(`api/configs?at=${seq}`);
  const event = page.events[0] || null;
  const nowByName = new Map(now.map((c) => [c.name, c]));
  const thenNames = new Set(then.map((c) => c.name));
  const createdSince = now.filter((c) => !thenNames.has(c.name));

  const jump = h("input", { id: "asof-seq", type: "number", min: 1, max: last, value: seq, inputmode: "numeric" });
  const jumpForm = h(
    "form",
    { class: "inline-form", "aria-label": "Go to another event" },
    h("label", { for: "asof-seq" }, "Event number"),
    jump,
    h("button", { type: "submit", class: "small" }, "Go"),
  );
  jumpForm.addEventListener("submit", (e) => {
    e.preventDefault();
    const target = Number(jump.value);
    if (Number.isInteger(target) && target >= 1) location.hash = route("asof", Math.min(target, last));
  });

  fill(
    root,
    h(
      "div",
      { class: "page-head" },
      h("h1", {}, `Configs as of event #${seq}`),
      h(
        "nav",
        { class: "pager", "aria-label": "Neighbouring events" },
        seq > 1 ? h("a", { class: "button small", href: route("asof", seq - 1), id: "asof-prev" }, `← #${seq - 1}`) : null,
        seq < last ? h("a", { class: "button small", href: route("asof", seq + 1), id: "asof-next" }, `#${seq + 1} →`) : null,
        jumpForm,
      ),
    ),
    event
      ? h(
          "div",
          { class: "panel asof-event" },
          h("p", {}, badge(eventKind(event.type), event.type), " ", summarize(event)),
          h("p", { class: "meta" }, time(event.at, { ago: true }), ` · by ${event.actor} · `, h("a", { href: "#/audit" }, "audit history")),
        )
      : null,
    h(
      "section",
      { class: "panel", "aria-labelledby": "asof-title" },
      h(
        "div",
        { class: "panel-head" },
        h("h2", { id: "asof-title" }, `${then.length} config${then.length === 1 ? "" : "s"} in force then`),
        h("p", { class: "muted" }, `compared with now (event #${last})`),
      ),
      then.length
        ? h(
            "div",
            { class: "table-wrap" },
            h(
              "table",
              { class: "asof stack", id: "asof-table" },
              h("thead", {}, h("tr", {}, ["Config", "Version then", "Saved then", "Now", ""].map((t) => h("th", { scope: "col" }, t)))),
              h(
                "tbody",
                {},
                then.map((c) => {
                  const current = nowByName.get(c.name);
                  let status;
                  let compare = null;
                  if (!current) {
                    status = badge("bad", "deleted since");
                  } else if (current.seq === c.seq) {
                    status = badge("ok", "unchanged since");
                  } else if (current.input === c.input) {
                    status = badge("ok", `same text, now v${current.version}`);
                  } else {
                    status = badge("warn", `changed since: now v${current.version}`);
                    compare = h(
                      "a",
                      { href: route("configs", "history", c.name, { from: c.version, to: current.version }), class: "button small" },
                      "Diff with now",
                    );
                  }
                  return h(
                    "tr",
                    { dataset: { name: c.name } },
                    h(
                      "th",
                      { scope: "row", class: "wrap" },
                      h("code", {}, c.name),
                      h("details", { class: "event-details" }, h("summary", {}, `Text of v${c.version}`), h("pre", {}, c.input)),
                    ),
                    h("td", { "data-label": "Version then" }, `v${c.version}`),
                    h("td", { class: "nowrap", "data-label": "Saved then" }, time(c.updated_at), " ", h("span", { class: "muted" }, `by ${c.updated_by}`)),
                    h("td", { "data-label": "Now" }, status),
                    h("td", { class: "nowrap" }, compare, " ", h("a", { href: route("configs", "history", c.name), class: "subtle" }, "history")),
                  );
                }),
              ),
            ),
          )
        : emptyState("No config existed at this point", h("p", {}, "Configs created later are listed below.")),
    ),
    createdSince.length
      ? h(
          "section",
          { class: "panel", "aria-labelledby": "asof-created" },
          h("h2", { id: "asof-created" }, `Created since (${createdSince.length})`),
          h(
            "ul",
            { class: "plain-list" },
            createdSince.map((c) =>
              h("li", {}, h("a", { href: route("configs", "history", c.name) }, h("code", {}, c.name)), ` — now v${c.version}, saved `, time(c.updated_at)),
            ),
          ),
        )
      : null,
  );
  return {};
}
