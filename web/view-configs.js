// Configs: the list, and the editor for one config (new or existing) with
// validation at the line as you type, save, and delete with confirmation;
// also the host config (every agent), and configs that the configuration
// directory manages, shown read-only with the file to edit instead.

import { api, apiOptional, configUrl } from "./api.js";
import { Editor } from "./editor.js";
import { h, fill, badge, time, fmtAgo, debounce, route, emptyState, pipelineBadge } from "./util.js";

/** The host config's name in the log (kept from the original framework). */
export const HOST_CONFIG = "ui";

/** The file of the configuration directory that holds a config. */
function dirFile(kind, name) {
  return kind === "host" ? `host/${name}.conf` : `docker/${name}.conf`;
}

const HOST_TEMPLATE = `input {
  file {
    # a file on every agent, below the allowed roots (--host-path-allow)
    host-path => "/var/log/syslog"
  }
}
`;

const TEMPLATE = `input {
  file {
    # the file inside every container of this image to stream
    docker-path => "/var/log/nginx/access.log"
  }
}
`;

export async function render(root, { parts, query }, app) {
  let mode = "list";
  if (parts[1] === "new") mode = "new";
  else if (parts[1] === "host") mode = "host";
  else if (parts[1] === "edit" && parts.length === 3) mode = "edit";
  const name = mode === "edit" ? parts[2] : mode === "host" ? HOST_CONFIG : null;
  let [configs, host, dir] = await Promise.all([
    api("api/configs"),
    apiOptional("api/host-config"),
    apiOptional("api/config-dir"),
  ]);

  const listEl = h("ul", { class: "config-list", id: "config-list" });
  const filter = h("input", {
    id: "config-filter",
    type: "search",
    placeholder: "Filter by name",
    autocomplete: "off",
  });
  const count = h("p", { class: "muted list-count", id: "config-count" });
  const hostItem = h("div", { class: "host-entry" });
  const dirBox = h("div", { class: "dir-status", id: "config-dir-status" });
  const pane = h("section", { class: "config-pane panel", id: "config-pane", "aria-label": "Config" });
  fill(
    root,
    h(
      "div",
      { class: "page-head" },
      h("h1", {}, "Configs"),
      app.lacks("write") ? null : h("a", { class: "button primary", href: route("configs", "new"), id: "new-config" }, "New config"),
    ),
    h(
      "div",
      { class: "split" },
      h(
        "nav",
        { class: "config-nav panel", "aria-label": "Configs" },
        hostItem,
        h("label", { for: "config-filter", class: "visually-hidden" }, "Filter configs"),
        filter,
        count,
        listEl,
        dirBox,
      ),
      pane,
    ),
  );

  const drawHost = () => {
    if (!host) {
      hostItem.replaceChildren();
      return;
    }
    fill(
      hostItem,
      h(
        "a",
        { href: route("configs", "host"), "aria-current": mode === "host" ? "page" : null, id: "host-config-link" },
        h("span", { class: "config-name" }, "Host config"),
        h(
          "span",
          { class: "config-meta" },
          host.version ? `v${host.version} · every agent · ${host.updated_by}` : "not set · every agent",
        ),
      ),
    );
  };
  const drawDir = () => {
    if (!dir || !dir.dir) {
      dirBox.replaceChildren();
      return;
    }
    const refused = (dir.files || []).filter((f) => f.state !== "Applied" && f.state !== "applied");
    fill(
      dirBox,
      h("h2", { class: "dir-title" }, "Configuration directory"),
      h("p", {}, h("code", {}, dir.dir)),
      h(
        "p",
        { class: "muted" },
        `${(dir.files || []).length} file${(dir.files || []).length === 1 ? "" : "s"}`,
        dir.last_scan ? [" · read ", fmtAgo(new Date(dir.last_scan).toISOString())] : null,
      ),
      dir.error ? h("p", {}, badge("bad", "Unreadable"), " ", dir.error) : null,
      refused.map((f) =>
        h(
          "p",
          { class: "dir-refused" },
          badge("bad", "Refused"),
          " ",
          h("code", {}, f.file),
          f.line ? ` line ${f.line}, column ${f.column}` : "",
          f.error ? `: ${f.error}` : "",
        ),
      ),
    );
  };
  drawHost();
  drawDir();

  const drawList = () => {
    const needle = filter.value.trim().toLowerCase();
    const shown = configs.filter((c) => c.name.toLowerCase().includes(needle));
    fill(count, `${configs.length} config${configs.length === 1 ? "" : "s"}${needle ? `, ${shown.length} shown` : ""}`);
    if (!configs.length) {
      fill(listEl, h("li", { class: "muted" }, "No configs yet."));
      return;
    }
    fill(
      listEl,
      shown.map((c) =>
        h(
          "li",
          {},
          h(
            "a",
            {
              href: route("configs", "edit", c.name),
              "aria-current": c.name === name ? "page" : null,
              dataset: { name: c.name },
            },
            h("span", { class: "config-name" }, c.name),
            h(
              "span",
              { class: "config-meta" },
              `v${c.version} · ${fmtAgo(c.updated_at)} · ${c.updated_by}`,
              c.updated_by === "config-dir" ? [" ", badge("muted", "file")] : null,
            ),
          ),
        ),
      ),
    );
  };
  filter.addEventListener("input", drawList);
  drawList();

  let editor = null;
  if (mode === "list") {
    fill(
      pane,
      configs.length
        ? emptyState(
            "Select a config",
            h("p", {}, "Pick a config on the left to edit it, see its history or delete it, or ", h("a", { href: route("configs", "new") }, "create a new one"), "."),
          )
        : emptyState(
            "No configs yet",
            h(
              "p",
              {},
              "A config names a Docker image (or a glob such as ",
              h("code", {}, "myorg/*"),
              ") and holds the Logstash pipeline for it; its ",
              h("code", {}, "docker-path"),
              " settings name the files streamed out of every container of that image. ",
              h("a", { href: route("configs", "new") }, "Create the first config"),
              ".",
            ),
          ),
    );
  } else {
    editor = await editorPane(pane, { mode, name, query, app });
  }

  const reloadList = debounce(async () => {
    try {
      [configs, host, dir] = await Promise.all([
        api("api/configs"),
        apiOptional("api/host-config"),
        apiOptional("api/config-dir"),
      ]);
      drawList();
      drawHost();
      drawDir();
    } catch {
      // The banner reports it.
    }
  }, 200);

  return {
    onEvent(ev) {
      if (!ev.type.startsWith("Config")) return;
      reloadList();
      if (editor) editor.onEvent(ev);
    },
    refresh: reloadList,
    dirty: () => Boolean(editor && editor.dirty()),
    async canLeave() {
      if (!editor || !editor.dirty()) return true;
      return app.confirm({
        title: "Discard unsaved changes?",
        message: h("p", {}, `Your changes to ${editor.label()} are not saved. Leaving this page discards them.`),
        confirm: "Discard changes",
        danger: true,
      });
    },
    destroy() {
      reloadList.cancel();
      if (editor) editor.destroy();
    },
  };
}

async function editorPane(pane, { mode, name, query, app }) {
  let config = null;
  let initial = TEMPLATE;
  let newName = query.get("name") || "";
  const kind = mode === "host" ? "host" : "docker";
  if (mode === "host") {
    config = await api("api/host-config");
    initial = config.version ? config.input : HOST_TEMPLATE;
    if (config.version) config.seq = await hostSeq();
  } else if (mode === "edit") {
    try {
      config = await api(configUrl(name));
    } catch (e) {
      if (e.status !== 404) throw e;
      fill(
        pane,
        emptyState(
          `No config named “${name}”`,
          h(
            "p",
            {},
            "It may have been deleted. ",
            h("a", { href: route("configs", "history", name) }, "See its history"),
            " or ",
            h("a", { href: route("configs", "new", { name }) }, "create it"),
            ".",
          ),
        ),
      );
      return null;
    }
    initial = config.input;
  } else if (query.get("copy")) {
    // "Re-create from this version" on the history page.
    const hist = await api(configUrl(query.get("copy"), "/history"));
    const version = hist.versions.find((v) => String(v.version) === query.get("version"));
    if (version && version.input !== null) initial = version.input;
  }
  let saved = mode === "edit" ? config.input : mode === "host" ? initial : null;
  // A config the configuration directory put in force changes only through its file.
  const managed = Boolean(config && config.updated_by === "config-dir");
  // The signed-in token may not change this config: show it, offer nothing.
  const needed = mode === "host" ? "admin" : "write";
  const forbidden = !managed && app.lacks(needed);
  const locked = managed || forbidden;
  let validation = 0;
  let externalChange = null;
  // While our own save is in flight, its event is not someone else's change.
  let saving = false;

  const status = h("div", { class: "validation", id: "validation", role: "status", "aria-live": "polite" });
  const nameError = h("p", { class: "field-error", id: "name-error", role: "alert", hidden: true });
  const notice = h("div", { class: "notice", id: "editor-notice", hidden: true });
  const editor = new Editor({
    id: "config-input",
    value: initial,
    describedBy: "validation",
    onInput: () => {
      markDirty();
      validate();
    },
  });
  const nameInput =
    mode === "new"
      ? h("input", {
          id: "config-name",
          name: "name",
          type: "text",
          required: true,
          autocomplete: "off",
          spellcheck: "false",
          placeholder: "e.g. nginx:latest or myorg/*",
          "aria-describedby": "name-help name-error",
          value: newName,
        })
      : null;
  const saveButton = locked
    ? null
    : h("button", { type: "submit", class: "primary", id: "save-config" }, mode === "new" ? "Create config" : "Save");
  const discardButton = locked ? null : h("button", { type: "button", id: "discard-config", disabled: true }, "Discard changes");
  if (locked) editor.textarea.readOnly = true;
  const form = h(
    "form",
    { id: "config-form", novalidate: true, "aria-label": mode === "new" ? "New config" : `Config ${name}` },
    mode === "new"
      ? h(
          "div",
          { class: "field" },
          h("label", { for: "config-name" }, "Name"),
          nameInput,
          h(
            "p",
            { class: "help", id: "name-help" },
            "The Docker image the config applies to, with its tag (",
            h("code", {}, "nginx:latest"),
            "), or a glob (",
            h("code", {}, "myorg/*"),
            ").",
          ),
          nameError,
        )
      : null,
    h(
      "div",
      { class: "field" },
      h(
        "label",
        { for: "config-input" },
        "Logstash config",
        h(
          "span",
          { class: "label-hint" },
          locked ? " — read-only here" : " — checked as you type; Ctrl+S saves",
        ),
      ),
      editor.el,
      status,
    ),
    h(
      "div",
      { class: "actions" },
      saveButton,
      discardButton,
      mode === "edit" && !locked
        ? h("button", { type: "button", class: "danger push-right", id: "delete-config" }, "Delete…")
        : null,
    ),
  );
  const head =
    mode === "edit"
      ? h(
          "div",
          { class: "pane-head" },
          h("h2", { id: "config-title" }, h("code", {}, name)),
          h(
            "p",
            { class: "meta", id: "config-meta" },
            metaLine(config),
          ),
          h(
            "p",
            { class: "pane-links" },
            h("a", { href: route("configs", "history", name), id: "history-link" }, "History and diff →"),
          ),
        )
      : mode === "host"
        ? h(
            "div",
            { class: "pane-head" },
            h("h2", { id: "config-title" }, "Host config"),
            config.version ? h("p", { class: "meta", id: "config-meta" }, metaLine(config)) : h("p", { class: "meta", id: "config-meta" }, "not set yet"),
            config.version
              ? h("p", { class: "pane-links" }, h("a", { href: route("configs", "history", HOST_CONFIG), id: "history-link" }, "History and diff →"))
              : null,
            h(
              "p",
              { class: "help pane-help" },
              "Applied on every agent. Its ",
              h("code", {}, "host-path"),
              " settings name files on the agents themselves, below the roots the scheduler allows (",
              h("code", {}, "--host-path-allow"),
              ").",
            ),
          )
        : h("div", { class: "pane-head" }, h("h2", { id: "config-title" }, "New config"));
  const managedNote = managed
    ? h(
        "div",
        { class: "notice info", id: "managed-note" },
        badge("info", "Managed by the configuration directory"),
        " Change it by editing ",
        h("code", {}, dirFile(kind, name)),
        " in the scheduler's configuration directory; the API refuses changes to it.",
      )
    : null;
  const roleNote = forbidden
    ? h(
        "div",
        { class: "notice info", id: "role-note" },
        badge("info", "Read-only for your token"),
        mode === "host"
          ? " Changing the host config needs a token with the admin role."
          : " Changing configs needs a token with the write or admin role.",
      )
    : null;
  fill(pane, head, managedNote, roleNote, notice, form, mode === "edit" ? configRuntime(name) : null);

  function metaLine(c) {
    return [
      badge("info", `version ${c.version}`),
      " updated ",
      time(c.updated_at, { ago: true }),
      ` by ${c.updated_by}`,
      c.seq ? ` (event #${c.seq})` : "",
    ];
  }

  function dirty() {
    return mode === "new" ? editor.value !== initial || (nameInput && nameInput.value !== newName) : editor.value !== saved;
  }

  function markDirty() {
    if (discardButton) discardButton.disabled = !dirty();
  }

  function showError(e, prefix) {
    if (e.line) {
      editor.setError(e.line, e.column, e.message);
      fill(
        status,
        h(
          "p",
          { class: "invalid" },
          badge("bad", prefix ? `${prefix}: line ${e.line}, column ${e.column}` : `Line ${e.line}, column ${e.column}`),
          " ",
          h("span", { class: "message" }, stripPosition(e.message)),
          " ",
          h("button", { type: "button", class: "link", onclick: () => editor.goTo(e.line, e.column) }, `Go to line ${e.line}`),
        ),
      );
    } else {
      editor.clearError();
      fill(status, h("p", { class: "invalid" }, badge("bad", prefix || "Invalid"), " ", e.message));
    }
  }

  const validate = debounce(async () => {
    const mine = ++validation;
    try {
      const result = await api("api/configs/validate", { method: "POST", body: { input: editor.value, kind } });
      if (mine !== validation) return;
      editor.clearError();
      const paths = kind === "host" ? result.host_paths : result.docker_paths;
      const plugins = [...new Set(result.plugins)];
      fill(
        status,
        h(
          "p",
          { class: "valid" },
          badge("ok", "Valid"),
          " ",
          paths.length
            ? h("span", {}, `streams ${paths.length === 1 ? "" : `${paths.length} files: `}`, paths.map((p, i) => [i ? ", " : "", h("code", {}, p)]))
            : h(
                "span",
                { class: "muted" },
                kind === "host"
                  ? "no host-path: this config reads no agent file"
                  : "no docker-path: this config streams no container file",
              ),
          plugins.length ? h("span", { class: "muted" }, ` · plugins: ${plugins.join(", ")}`) : null,
        ),
      );
    } catch (e) {
      if (mine !== validation) return;
      if (e.status === 400) showError(e);
      else if (e.status === 401) fill(status, h("p", { class: "muted" }, "Validation needs an API token on this scheduler."));
      else fill(status, h("p", { class: "muted" }, `Not checked: ${e.message}`));
    }
  }, 350);

  async function save() {
    if (locked) return;
    validate.cancel();
    validation += 1;
    nameError.hidden = true;
    if (nameInput) nameInput.removeAttribute("aria-invalid");
    if (mode === "new" && !nameInput.value.trim()) {
      nameError.textContent = "Enter the image name the config applies to.";
      nameError.hidden = false;
      nameInput.setAttribute("aria-invalid", "true");
      nameInput.focus();
      return;
    }
    if (!app.canWrite()) {
      const ok = await app.signIn("Saving a config needs an API token.");
      if (!ok) {
        fill(status, h("p", { class: "invalid" }, badge("warn", "Not saved"), " Sign in with an API token to save."));
        return;
      }
    }
    saveButton.disabled = true;
    saving = true;
    fill(status, h("p", { class: "muted" }, "Saving…"));
    try {
      if (mode === "new") {
        const created = await api("api/configs", {
          method: "POST",
          body: { name: nameInput.value.trim(), input: editor.value },
        });
        initial = editor.value;
        newName = nameInput.value;
        app.flash(`Created config “${created.name}” (version 1).`);
        app.navigate(route("configs", "edit", created.name));
        return;
      }
      const updated =
        mode === "host"
          ? await api("api/host-config", { method: "PUT", body: { input: editor.value } })
          : await api(configUrl(name), { method: "PUT", body: { input: editor.value } });
      if (mode === "host") updated.seq = await hostSeq();
      config = updated;
      saved = updated.input;
      externalChange = null;
      notice.hidden = true;
      fill(pane.querySelector("#config-meta"), metaLine(updated));
      markDirty();
      editor.clearError();
      fill(status, h("p", { class: "valid" }, badge("ok", `Saved as version ${updated.version}`)));
      app.flash(`Saved ${mode === "host" ? "the host config" : `“${name}”`} as version ${updated.version}.`);
    } catch (e) {
      if (e.status === 400 && (e.code === "invalid_config" || e.code === "unknown_plugin")) {
        showError(e, "Not saved");
      } else if (nameInput && (e.code === "invalid_name" || e.code === "already_exists")) {
        nameError.textContent =
          e.code === "already_exists" ? `${e.message}. Open it from the list to edit it.` : e.message;
        nameError.hidden = false;
        nameInput.setAttribute("aria-invalid", "true");
        nameInput.focus();
        fill(status, h("p", { class: "invalid" }, badge("bad", "Not saved"), " See the name above."));
      } else if (e.status === 401) {
        fill(status, h("p", { class: "invalid" }, badge("bad", "Not saved"), " ", e.message, ". Enter a valid token and save again."));
        app.signIn("Saving a config needs a valid API token.");
      } else {
        fill(status, h("p", { class: "invalid" }, badge("bad", "Not saved"), " ", e.message));
      }
    } finally {
      saveButton.disabled = false;
      saving = false;
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    save();
  });
  form.addEventListener("keydown", (event) => {
    if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "s") {
      event.preventDefault();
      save();
    }
  });
  if (nameInput) nameInput.addEventListener("input", markDirty);
  if (discardButton) {
    discardButton.addEventListener("click", () => {
      editor.value = mode === "new" ? initial : saved;
      if (nameInput) nameInput.value = newName;
      markDirty();
      validate();
    });
  }
  const deleteButton = form.querySelector("#delete-config");
  if (deleteButton) {
    deleteButton.addEventListener("click", async () => {
      const ok = await app.confirm({
        title: `Delete “${name}”?`,
        message: h(
          "div",
          {},
          h("p", {}, "Executors stop streaming the files of this image's containers once they apply the new config set."),
          h("p", {}, "The config's history stays readable, and a deleted config can be re-created from any of its versions."),
        ),
        confirm: "Delete config",
        danger: true,
      });
      if (!ok) return;
      if (!app.canWrite() && !(await app.signIn("Deleting a config needs an API token."))) return;
      try {
        const result = await api(configUrl(name), { method: "DELETE" });
        saved = editor.value; // Nothing left to lose.
        app.flash(`Deleted “${name}” (event #${result.seq}); its history is kept.`);
        app.navigate(route("configs"));
      } catch (e) {
        fill(status, h("p", { class: "invalid" }, badge("bad", "Not deleted"), " ", e.message));
      }
    });
  }
  validate();
  validate.flush();

  return {
    dirty,
    label: () => (mode === "new" ? "the new config" : mode === "host" ? "the host config" : `“${name}”`),
    onEvent(ev) {
      if (mode === "new" || ev.config !== name || saving || (config && config.seq && ev.seq <= config.seq)) return;
      if (externalChange && ev.seq <= externalChange) return;
      externalChange = ev.seq;
      if (ev.type === "ConfigDeleted") {
        fill(notice, badge("bad", "Deleted"), ` ${ev.actor} deleted this config (event #${ev.seq}). Saving would fail; `, h("a", { href: route("configs", "new", { name }) }, "re-create it"), " instead.");
        notice.hidden = false;
        return;
      }
      if (!dirty()) {
        api(mode === "host" ? "api/host-config" : configUrl(name))
          .then(async (c) => {
            if (mode === "host") c.seq = await hostSeq();
            config = c;
            saved = c.input;
            editor.value = c.input;
            fill(pane.querySelector("#config-meta"), metaLine(c));
            markDirty();
            validate();
            app.flash(`“${name}” was changed by ${ev.actor}; showing version ${c.version}.`, "info");
          })
          .catch(() => {});
        return;
      }
      fill(
        notice,
        badge("warn", "Changed elsewhere"),
        ` ${ev.actor} saved a new version of this config (event #${ev.seq}) while you were editing. Saving overwrites it; `,
        h("a", { href: route("configs", "history", name) }, "compare the versions"),
        " first.",
      );
      notice.hidden = false;
    },
    destroy() {
      validate.cancel();
    },
  };
}

/** The seq of the host config's current version (its API answer has none). */
async function hostSeq() {
  const hist = await api(configUrl(HOST_CONFIG, "/history"));
  return hist.versions[hist.versions.length - 1].seq;
}

/** The API's message repeats the position; the badge shows it already. */
function stripPosition(message) {
  return message.replace(/^invalid Logstash config at line \d+, column \d+: /, "");
}

/** Where a config runs: its pipeline on each agent (Logstash's health) and
 * where it listens; loads itself, and stays empty when nothing runs it yet. */
function configRuntime(name) {
  const section = h("section", { class: "config-runtime", id: "config-runtime", "aria-labelledby": "config-runtime-title" });
  Promise.all([
    api("api/executors", { reuse: true }),
    api("api/endpoints", { reuse: true }).catch(() => ({ endpoints: [] })),
  ])
    .then(([list, endpoints]) => {
      const rows = [];
      for (const ex of list.executors) {
        const p = ((ex.report && ex.report.pipelines) || []).find((x) => x.config === name);
        if (p) {
          rows.push(
            h(
              "li",
              { class: "pipeline", dataset: { agent: ex.agent_id, state: p.state } },
              pipelineBadge(p),
              " ",
              h("strong", {}, ex.hostname || ex.agent_id),
              h("span", { class: "muted" }, ` ${p.events_in} in · ${p.events_out} out`),
              p.last_error ? h("span", { class: "stream-reason" }, p.last_error) : null,
            ),
          );
        }
      }
      const listen = endpoints.endpoints.find((e) => e.config === name);
      const where = listen
        ? [
            ...listen.agents.map((a) => h("li", { class: "endpoint" }, a.addresses.map((x) => h("code", {}, x)))),
            ...(listen.unavailable || []).map((u) => h("li", { class: "endpoint" }, badge("bad", u.hostname || u.agent_id), " ", u.reason)),
          ]
        : [];
      if (!rows.length && !where.length) return;
      fill(
        section,
        h("h3", { id: "config-runtime-title" }, "Where it runs"),
        rows.length ? h("ul", { class: "pipeline-list", id: "config-pipelines" }, rows) : null,
        where.length ? [h("h4", {}, `Listens on (${listen.ports.map((p) => `${p.port}/${p.protocol}`).join(", ")})`), h("ul", { id: "config-endpoints" }, where)] : null,
      );
    })
    .catch(() => {});
  return section;
}
