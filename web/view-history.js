// History of one config: every version (deletions too), a line diff between
// any two of them, and revert (which records a new version).

import { api, configUrl } from "./api.js";
import { diffLines, lines, stats, fold } from "./diff.js";
import { h, fill, badge, time, route, debounce } from "./util.js";

export async function render(root, { parts, query }, app) {
  const name = parts[2];
  let hist;
  try {
    hist = await api(configUrl(name, "/history"));
  } catch (e) {
    if (e.status !== 404) throw e;
    fill(
      root,
      h("div", { class: "page-head" }, h("h1", {}, "History of ", h("code", {}, name))),
      h("div", { class: "panel" }, h("p", {}, `No config named “${name}” was ever created. `, h("a", { href: "#/configs" }, "Back to the configs"), ".")),
    );
    return {};
  }
  let from = Number(query.get("from")) || null;
  let to = Number(query.get("to")) || null;

  const head = h("div", { class: "page-head" });
  const table = h("div", { class: "table-wrap" });
  const picker = h("div", { class: "diff-picker" });
  const diffBox = h("div", { class: "diff-box", id: "diff" });
  fill(
    root,
    head,
    h(
      "div",
      { class: "history-layout" },
      h("section", { class: "panel", "aria-labelledby": "versions-title" }, h("h2", { id: "versions-title" }, "Versions"), table),
      h(
        "section",
        { class: "panel", "aria-labelledby": "diff-title" },
        h("h2", { id: "diff-title" }, "Compare versions"),
        picker,
        diffBox,
      ),
    ),
  );

  const latest = () => hist.versions[hist.versions.length - 1];
  const exists = () => latest().change !== "deleted";
  const isHost = () => hist.kind === "host";
  // The configuration directory's configs change only through their files.
  const managed = () => exists() && latest().actor === "config-dir";
  const file = () => (isHost() ? `host/${name}.conf` : `docker/${name}.conf`);
  const byVersion = (v) => hist.versions.find((x) => x.version === v);

  function normalize() {
    const last = latest().version;
    if (!to || !byVersion(to)) to = last;
    if (!from || !byVersion(from)) from = Math.max(1, to - 1);
  }

  function drawHead() {
    fill(
      head,
      h("h1", {}, "History of ", h("code", {}, name)),
      h(
        "p",
        { class: "page-summary" },
        `${hist.versions.length} version${hist.versions.length === 1 ? "" : "s"} · `,
        exists()
          ? [
              badge("ok", `current: version ${latest().version}`),
              " ",
              managed() ? [badge("muted", `managed by ${file()}`), " "] : null,
              h("a", { href: isHost() ? route("configs", "host") : route("configs", "edit", name) }, managed() ? "View →" : "Edit →"),
            ]
          : [badge("bad", `deleted in version ${latest().version}`), " ", h("a", { href: route("configs", "new", { name, copy: name, version: lastText()?.version }) }, "Re-create from the last text →")],
      ),
    );
  }

  function lastText() {
    return [...hist.versions].reverse().find((v) => v.input !== null);
  }

  function drawTable() {
    const current = exists() ? latest().input : null;
    fill(
      table,
      h(
        "table",
        { class: "versions stack", id: "versions" },
        h(
          "thead",
          {},
          h("tr", {}, ["Version", "Change", "When", "By", "Event", ""].map((t) => h("th", { scope: "col" }, t))),
        ),
        h(
          "tbody",
          {},
          [...hist.versions].reverse().map((v) => {
            const previous = byVersion(v.version - 1);
            let action = null;
            if (v.change === "deleted") {
              action = h("span", { class: "muted" }, "deletion");
            } else if (managed() && v.input !== current) {
              action = h("span", { class: "muted" }, `edit ${file()} to change`);
            } else if (!exists() && !app.lacks("write")) {
              action = h("a", { href: route("configs", "new", { name, copy: name, version: v.version }), class: "button small" }, `Re-create from v${v.version}`);
            } else if (!exists()) {
              action = null;
            } else if (v.input === current) {
              action = h("span", { class: "muted" }, v.version === latest().version ? "current" : "same as current");
            } else if (app.lacks(isHost() ? "admin" : "write")) {
              action = h("span", { class: "muted" }, "your token may not revert");
            } else {
              action = h(
                "button",
                { type: "button", class: "small", dataset: { revert: v.version }, onclick: () => revert(v) },
                `Revert to v${v.version}`,
              );
            }
            return h(
              "tr",
              { class: v.version === to || v.version === from ? "selected" : "", dataset: { version: v.version } },
              h(
                "th",
                { scope: "row" },
                `v${v.version}`,
                v.version === from ? h("span", { class: "cmp-mark" }, "from") : null,
                v.version === to ? h("span", { class: "cmp-mark" }, "to") : null,
              ),
              h(
                "td",
                {},
                badge(v.change === "deleted" ? "bad" : v.change === "created" ? "ok" : "info", v.change),
                v.restored_from ? h("span", { class: "muted" }, ` (revert to event #${v.restored_from})`) : null,
              ),
              h("td", { "data-label": "When" }, time(v.at)),
              h("td", { "data-label": "By" }, v.actor),
              h("td", { "data-label": "Event" }, h("a", { href: route("asof", v.seq), title: "View all configs as of this event" }, `#${v.seq}`)),
              h(
                "td",
                { class: "row-actions" },
                previous
                  ? h(
                      "button",
                      {
                        type: "button",
                        class: "small",
                        onclick: () => select(previous.version, v.version),
                        "aria-label": `Show the changes of version ${v.version}`,
                      },
                      "Changes",
                    )
                  : null,
                " ",
                action,
              ),
            );
          }),
        ),
      ),
    );
  }

  const fromSelect = h("select", { id: "diff-from" });
  const toSelect = h("select", { id: "diff-to" });
  const onPick = () => select(Number(fromSelect.value), Number(toSelect.value));
  fromSelect.addEventListener("change", onPick);
  toSelect.addEventListener("change", onPick);

  function drawPicker() {
    const options = (selected) =>
      hist.versions.map((v) =>
        h(
          "option",
          { value: v.version, selected: v.version === selected },
          `v${v.version} — ${v.change}, ${v.actor}`,
        ),
      );
    fill(fromSelect, options(from));
    fill(toSelect, options(to));
    fromSelect.value = String(from);
    toSelect.value = String(to);
    fill(
      picker,
      h("div", { class: "field inline" }, h("label", { for: "diff-from" }, "From"), fromSelect),
      h("div", { class: "field inline" }, h("label", { for: "diff-to" }, "To"), toSelect),
      h(
        "button",
        { type: "button", class: "small", onclick: () => select(to, from), "aria-label": "Swap the versions" },
        "⇄ Swap",
      ),
    );
  }

  function drawDiff() {
    const a = byVersion(from);
    const b = byVersion(to);
    const script = diffLines(lines(a.input), lines(b.input));
    const { added, removed } = stats(script);
    const note = (v) => (v.input === null ? " (deleted: no text)" : "");
    const summary = h(
      "p",
      { class: "diff-summary", id: "diff-summary" },
      `v${a.version}${note(a)} → v${b.version}${note(b)}: `,
      added || removed
        ? [
            h("span", { class: "added-text" }, `+${added} added`),
            ", ",
            h("span", { class: "removed-text" }, `−${removed} removed`),
          ]
        : "no differences",
    );
    const body = h("tbody");
    const rows = (steps) =>
      steps.map((s) => {
        const kind = s.op === "+" ? "add" : s.op === "-" ? "del" : "ctx";
        return h(
          "tr",
          { class: kind },
          h("td", { class: "ln" }, s.a ?? ""),
          h("td", { class: "ln" }, s.b ?? ""),
          h(
            "td",
            { class: "op" },
            h("span", { "aria-hidden": "true" }, s.op === "-" ? "−" : s.op),
            h("span", { class: "visually-hidden" }, kind === "add" ? "added" : kind === "del" ? "removed" : "unchanged"),
          ),
          h("td", { class: "code" }, s.text),
        );
      });
    for (const item of fold(script)) {
      if (item.fold) {
        const row = h(
          "tr",
          { class: "fold" },
          h(
            "td",
            { colspan: 4 },
            h("button", { type: "button", class: "link" }, `⋯ show ${item.fold.length} unchanged lines`),
          ),
        );
        row.querySelector("button").addEventListener("click", () => row.replaceWith(...rows(item.fold)));
        body.append(row);
      } else {
        body.append(...rows([item]));
      }
    }
    fill(
      diffBox,
      summary,
      script.length
        ? h(
            "div",
            { class: "table-wrap" },
            h(
              "table",
              { class: "diff", "aria-describedby": "diff-summary" },
              h(
                "thead",
                { class: "visually-hidden" },
                h("tr", {}, ["Old line", "New line", "Change", "Text"].map((t) => h("th", { scope: "col" }, t))),
              ),
              body,
            ),
          )
        : h("p", { class: "muted" }, "Both versions are empty."),
    );
  }

  function select(f, t) {
    from = f;
    to = t;
    history.replaceState(null, "", route("configs", "history", name, { from, to }));
    drawPicker();
    drawDiff();
    drawTable();
  }

  async function revert(v) {
    const ok = await app.confirm({
      title: `Revert “${name}” to version ${v.version}?`,
      message: h(
        "div",
        {},
        h("p", {}, `This saves the text of version ${v.version} as a new version ${latest().version + 1}. Nothing is rewritten: every version stays in the history.`),
      ),
      confirm: `Revert to v${v.version}`,
    });
    if (!ok) return;
    if (!app.canWrite() && !(await app.signIn("Reverting a config needs an API token."))) return;
    try {
      // The host config has its own route: restoring it saves the old text.
      const result = isHost()
        ? await api("api/host-config", { method: "PUT", body: { input: v.input } })
        : await api(configUrl(name, "/revert"), { method: "POST", body: { version: v.version } });
      app.flash(`Reverted “${name}” to version ${v.version}: now version ${result.version}.`);
      await reload(result.version);
    } catch (e) {
      app.flash(`Not reverted: ${e.message}`, "bad");
    }
  }

  async function reload(newTo) {
    const previousLast = latest().version;
    hist = await api(configUrl(name, "/history"));
    if (newTo) {
      from = previousLast;
      to = newTo;
    } else if (to === previousLast) {
      to = latest().version;
    }
    normalize();
    history.replaceState(null, "", route("configs", "history", name, { from, to }));
    drawHead();
    drawPicker();
    drawDiff();
    drawTable();
  }

  normalize();
  drawHead();
  drawPicker();
  drawDiff();
  drawTable();

  const later = debounce(() => reload().catch(() => {}), 200);
  return {
    onEvent(ev) {
      if (ev.config === name && ev.seq > latest().seq) later();
    },
    refresh: later,
    destroy: () => later.cancel(),
  };
}
