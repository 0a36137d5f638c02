// The shell: hash routing, the error banner, the sign-in dialog, the live
// stream, and the views it hands events to.
//
// Routes (hash routing, so no GUI path collides with an API path):
//   #/                          dashboard
//   #/nodes                     the agents as a table (?q=&state=&health=&config=&errors=&problem=
//                               &sort=&limit=&cursor=; &open=<agent id> shows one agent's card)
//   #/configs                   config list
//   #/configs/new               new config (?name=, ?copy=<name>&version=<n> to start from a version)
//   #/configs/edit/<name>       editor
//   #/configs/history/<name>    versions, diff, revert (?from=&to=)
//   #/audit                     event history (?type=&config=&actor=&since=&until=&limit=&cursor=)
//   #/asof/<seq>                the configs as they were at event <seq>
//   #/cluster                   replicas, framework, Mesos connection

import { api, on, session, ApiError } from "./api.js";
import { LiveStream } from "./live.js";
import { h, fill, errorPanel } from "./util.js";
import * as dashboard from "./view-dashboard.js";
import * as nodes from "./view-nodes.js";
import * as configs from "./view-configs.js";
import * as historyView from "./view-history.js";
import * as audit from "./view-audit.js";
import * as asof from "./view-asof.js";
import * as cluster from "./view-cluster.js";

// Script errors and CSP refusals, kept for the browser tests (and anyone
// looking in the console): a page that works only by luck should fail them.
window.__guiErrors = [];
window.addEventListener("error", (e) => window.__guiErrors.push(`error: ${e.message}`));
window.addEventListener("unhandledrejection", (e) =>
  window.__guiErrors.push(`unhandled rejection: ${e.reason && e.reason.message ? e.reason.message : e.reason}`),
);
document.addEventListener("securitypolicyviolation", (e) =>
  window.__guiErrors.push(`CSP refused ${e.blockedURI || "inline"} (${e.violatedDirective})`),
);

const ROLE_RANK = { read: 0, write: 1, admin: 2 };

const ROUTES = [
  { match: (p) => p.length === 0, view: dashboard, nav: "dashboard", title: "Dashboard" },
  { match: (p) => p[0] === "nodes", view: nodes, nav: "nodes", title: "Nodes" },
  {
    match: (p) => p[0] === "configs" && p[1] === "history" && p.length === 3,
    view: historyView,
    nav: "configs",
    title: "Config history",
  },
  { match: (p) => p[0] === "configs", view: configs, nav: "configs", title: "Configs" },
  { match: (p) => p[0] === "audit", view: audit, nav: "audit", title: "Audit" },
  { match: (p) => p[0] === "asof" && p.length === 2, view: asof, nav: "audit", title: "As of" },
  { match: (p) => p[0] === "cluster", view: cluster, nav: "cluster", title: "Cluster" },
];

/** What views can use from the shell. */
export const app = {
  whoami: null,
  /** Shows a short message in the page's status region. */
  flash(message, kind = "ok") {
    const region = document.getElementById("flash");
    fill(region, h("p", { class: `flash ${kind}` }, message));
    clearTimeout(this.flashTimer);
    this.flashTimer = setTimeout(() => region.replaceChildren(), 8000);
  },
  /** Asks the operator to confirm; resolves true or false. */
  confirm: (options) => confirmDialog(options),
  /** Opens the sign-in dialog; resolves true once a valid token is stored. */
  signIn: (reason) => openAuth(reason),
  /** Whether writes can be attempted without asking for a token first. */
  canWrite() {
    return !this.whoami || !this.whoami.tokens_enabled || Boolean(session.token);
  },
  /**
   * Whether the signed-in token's role is below `needed` ("write": per-image
   * configs; "admin": the host config and cluster members). Views hide what
   * such a token may not do; without a token nothing is hidden (a change
   * asks for one).
   */
  lacks(needed) {
    const role = this.whoami && this.whoami.tokens_enabled && session.token ? this.whoami.role : null;
    if (!role) return false;
    return ROLE_RANK[role] < ROLE_RANK[needed];
  },
  navigate(hash) {
    location.hash = hash;
  },
  /** Puts `hash` in the address bar for the view on screen (its own filters), without rendering it again. */
  replaceRoute(hash) {
    history.replaceState(null, "", hash);
    currentHash = location.hash;
    const view = main.querySelector(".view");
    if (view) view.dataset.route = location.hash;
  },
};

let current = null;
let currentHash = null;
let renderSeq = 0;
let lastFailed = false;
const main = document.getElementById("main");

function parseHash() {
  const raw = location.hash.startsWith("#/") ? location.hash.slice(2) : "";
  const [path, query = ""] = raw.split("?");
  const parts = path
    .split("/")
    .filter((p) => p !== "")
    .map((p) => {
      try {
        return decodeURIComponent(p);
      } catch {
        return p;
      }
    });
  return { parts, query: new URLSearchParams(query) };
}

async function render({ focus = true } = {}) {
  const seq = ++renderSeq;
  const { parts, query } = parseHash();
  const entry = ROUTES.find((r) => r.match(parts));
  if (current && current.destroy) current.destroy();
  current = null;
  for (const link of document.querySelectorAll("nav a[data-nav]")) {
    if (entry && link.dataset.nav === entry.nav) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  document.title = `${entry ? entry.title : "Not found"} · logstash-mesos`;
  currentHash = location.hash;
  if (!entry) {
    fill(
      main,
      h("h1", { tabindex: "-1" }, "No such page"),
      h("p", {}, "This address is not a page of the GUI. ", h("a", { href: "#/" }, "Go to the dashboard"), "."),
    );
    return;
  }
  const root = h("div", {
    class: "view",
    "aria-busy": "true",
    dataset: { view: entry.nav, route: location.hash },
  });
  fill(main, root);
  root.append(h("p", { class: "loading" }, "Loading…"));
  try {
    const view = await entry.view.render(root, { parts, query }, app);
    if (seq !== renderSeq) {
      if (view && view.destroy) view.destroy();
      return;
    }
    current = view || {};
    lastFailed = false;
    root.dataset.ready = "true";
    performance.mark("view-ready", { detail: entry.nav });
  } catch (e) {
    if (seq !== renderSeq) return;
    lastFailed = true;
    if (e instanceof ApiError && e.status === 401) {
      fill(
        root,
        h("h1", { tabindex: "-1" }, entry.title),
        h(
          "div",
          { class: "panel" },
          h("p", {}, "This scheduler needs an API token to show this page."),
          h("button", { type: "button", onclick: () => openAuth() }, "Enter token"),
        ),
      );
    } else {
      fill(root, h("h1", { tabindex: "-1" }, entry.title), errorPanel(e, () => render()));
    }
  }
  root.removeAttribute("aria-busy");
  if (focus) {
    const heading = main.querySelector("h1");
    if (heading) {
      heading.setAttribute("tabindex", "-1");
      heading.focus({ preventScroll: true });
    }
  }
}

async function onHashChange() {
  if (location.hash && !location.hash.startsWith("#/")) return; // the skip link
  if (location.hash === currentHash) return;
  if (current && current.canLeave && !(await current.canLeave())) {
    history.replaceState(null, "", currentHash || "#/");
    return;
  }
  render();
}

// ---- error banner -------------------------------------------------------

const banner = document.getElementById("banner");
let retryTimer = null;

function showBanner(error) {
  fill(
    banner,
    h(
      "p",
      {},
      h("strong", {}, "The scheduler API cannot be reached. "),
      `${error.message}. The data shown may be out of date; retrying every 5 seconds. `,
    ),
    h("button", { type: "button", onclick: () => probe() }, "Retry now"),
  );
  banner.hidden = false;
  document.body.classList.add("offline");
  if (!retryTimer) retryTimer = setInterval(probe, 5000);
}

function hideBanner() {
  if (banner.hidden) return;
  banner.hidden = true;
  banner.replaceChildren();
  document.body.classList.remove("offline");
  clearInterval(retryTimer);
  retryTimer = null;
  if (!app.whoami) loadWho().then(promptIfNeeded);
  if (lastFailed) render({ focus: false });
  else if (current && current.refresh) current.refresh();
}

async function probe() {
  try {
    await api("api/whoami");
  } catch {
    // The banner stays; api() reported the failure.
  }
}

on("unreachable", showBanner);
on("reachable", hideBanner);

// ---- live stream --------------------------------------------------------

const livePill = document.getElementById("live");
const LIVE_TEXT = {
  connecting: "Live: connecting…",
  connected: "Live",
  reconnecting: "Live: reconnecting…",
  unauthorized: "Live: needs a token",
  stopped: "Live: off",
};

const live = new LiveStream({
  onEvent(event) {
    if (current && current.onEvent) current.onEvent(event);
  },
  onState(state) {
    livePill.dataset.state = state;
    livePill.textContent = LIVE_TEXT[state] || state;
    livePill.title =
      state === "connected"
        ? "Receiving events from /api/events/stream as they happen"
        : "Not receiving live events; the page shows the last data it loaded";
  },
});

// ---- authentication -----------------------------------------------------

const authDialog = document.getElementById("auth-dialog");
const authForm = document.getElementById("auth-form");
const tokenInput = document.getElementById("token-input");
const authError = document.getElementById("auth-error");
const authReason = document.getElementById("auth-reason");
const readOnlyButton = document.getElementById("auth-read-only");
const authButton = document.getElementById("auth-button");
const whoLabel = document.getElementById("who");
let authWaiters = [];

function openAuth(reason) {
  const readsNeedToken = app.whoami ? app.whoami.reads_need_token : true;
  authReason.textContent =
    reason ||
    (readsNeedToken
      ? "This scheduler needs an API token to show anything."
      : "This scheduler needs an API token for changes. You can browse without one.");
  readOnlyButton.hidden = readsNeedToken;
  if (!authError.textContent) authError.hidden = true;
  tokenInput.value = "";
  tokenInput.removeAttribute("aria-invalid");
  if (!authDialog.open) authDialog.showModal();
  tokenInput.focus();
  return new Promise((resolve) => authWaiters.push(resolve));
}

function closeAuth(result) {
  authError.textContent = "";
  authError.hidden = true;
  if (authDialog.open) authDialog.close();
  const waiters = authWaiters;
  authWaiters = [];
  for (const resolve of waiters) resolve(result);
}

function refusedToken(message) {
  authError.textContent = message;
  authError.hidden = false;
  tokenInput.setAttribute("aria-invalid", "true");
  tokenInput.select();
  tokenInput.focus();
}

authForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const token = tokenInput.value.trim();
  if (!token) {
    refusedToken("Enter the token's secret (the part after “label:”).");
    return;
  }
  try {
    const who = await api("api/whoami", { token });
    if (!who.actor) {
      refusedToken("The scheduler did not accept this token.");
      return;
    }
    const roleBefore = app.whoami && session.token ? app.whoami.role : null;
    session.token = token;
    session.readOnly = false;
    app.whoami = who;
    updateWho();
    closeAuth(true);
    live.restart();
    // A page that could not load without a token loads now; a page that did
    // keeps what the operator typed, unless the new role changes what it shows.
    const clean = current && !(current.dirty && current.dirty());
    if (lastFailed || !current || (roleBefore !== who.role && clean)) render({ focus: false });
    else if (current.refresh) current.refresh();
  } catch (e) {
    if (e.status === 401) {
      refusedToken(`The scheduler refused this token (${e.message}). Check it and try again.`);
    } else {
      refusedToken(`The token could not be checked: ${e.message}`);
    }
  }
});

readOnlyButton.addEventListener("click", () => {
  session.readOnly = true;
  closeAuth(false);
});

authDialog.addEventListener("cancel", () => closeAuth(false));
document.getElementById("auth-cancel").addEventListener("click", () => closeAuth(false));

authButton.addEventListener("click", () => {
  if (session.token) {
    const hid = app.lacks("admin");
    session.token = null;
    session.readOnly = true;
    if (app.whoami) app.whoami = { ...app.whoami, actor: null, role: null };
    updateWho();
    live.restart();
    if (hid && current && !(current.dirty && current.dirty())) render({ focus: false });
    if (app.whoami && app.whoami.reads_need_token) openAuth("Signed out. Enter a token to continue.");
    else app.flash("Signed out; the token was removed from this tab.");
  } else {
    openAuth();
  }
});

function updateWho() {
  const who = app.whoami;
  if (!who || !who.tokens_enabled) {
    whoLabel.textContent = who ? "Open API (no tokens)" : "";
    authButton.hidden = true;
    return;
  }
  authButton.hidden = false;
  if (session.token && who.actor) {
    const role = who.role && who.role !== "write" ? ` (${who.role})` : "";
    whoLabel.textContent = `Signed in as ${who.actor.replace(/^api:/, "")}${role}`;
    authButton.textContent = "Sign out";
  } else {
    whoLabel.textContent = who.reads_need_token ? "Not signed in" : "Read-only";
    authButton.textContent = "Sign in";
  }
}

on("unauthorized", (error) => {
  if (session.token) {
    // The stored token stopped working (rotated, or the scheduler restarted with others).
    session.token = null;
    authError.textContent = `The stored token was refused (${error.message}); enter a valid one.`;
    authError.hidden = false;
    if (app.whoami) app.whoami = { ...app.whoami, actor: null, role: null };
    updateWho();
    openAuth();
  } else if (app.whoami && app.whoami.reads_need_token) {
    openAuth();
  }
});

// ---- confirmation dialog ------------------------------------------------

const confirmEl = document.getElementById("confirm-dialog");

function confirmDialog({ title, message, confirm = "Confirm", danger = false }) {
  fill(document.getElementById("confirm-title"), title);
  fill(document.getElementById("confirm-message"), message);
  const ok = document.getElementById("confirm-ok");
  ok.textContent = confirm;
  ok.className = danger ? "danger" : "primary";
  confirmEl.returnValue = "";
  confirmEl.showModal();
  document.getElementById("confirm-cancel").focus();
  return new Promise((resolve) => {
    confirmEl.addEventListener("close", () => resolve(confirmEl.returnValue === "ok"), {
      once: true,
    });
  });
}

// ---- start --------------------------------------------------------------

/** Asks the API whether it wants tokens and whether the tab's token is valid. */
async function loadWho() {
  try {
    app.whoami = await api("api/whoami", { token: session.token || null });
  } catch (e) {
    if (e.status !== 401) return; // Unreachable: the banner says so and retries.
    if (session.token) {
      session.token = null;
      authError.textContent = `The stored token was refused (${e.message}); enter a valid one.`;
      authError.hidden = false;
    }
    try {
      app.whoami = await api("api/whoami", { token: null });
    } catch (again) {
      if (again.status === 401) {
        app.whoami = { tokens_enabled: true, reads_need_token: true, actor: null };
      }
    }
  }
  updateWho();
}

/** Asks for a token when the API wants one and the tab has none. */
async function promptIfNeeded() {
  const who = app.whoami;
  if (!who || !who.tokens_enabled || session.token) return;
  if (who.reads_need_token) {
    livePill.dataset.state = "unauthorized";
    livePill.textContent = LIVE_TEXT.unauthorized;
    fill(main, h("p", { class: "loading" }, "Waiting for an API token…"));
    await openAuth();
  } else if (!session.readOnly) {
    openAuth();
  }
}

async function start() {
  window.addEventListener("hashchange", onHashChange);
  window.addEventListener("beforeunload", (event) => {
    if (current && current.dirty && current.dirty()) event.preventDefault();
  });
  await loadWho();
  await promptIfNeeded();
  live.start();
  render({ focus: false });
}

start();
