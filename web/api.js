// The REST API client: JSON in and out, the tab's token, and the signals the
// shell turns into the error banner and the sign-in dialog.
//
// URLs are relative to the page, so the GUI also works behind a proxy that
// serves it under a path prefix.

const TOKEN_KEY = "logstash-mesos.token";
const READ_ONLY_KEY = "logstash-mesos.read-only";

/** The token lives in sessionStorage: kept for this tab, never in a cookie. */
export const session = {
  get token() {
    return sessionStorage.getItem(TOKEN_KEY);
  },
  set token(value) {
    if (value) sessionStorage.setItem(TOKEN_KEY, value);
    else sessionStorage.removeItem(TOKEN_KEY);
  },
  /** The operator chose to browse without a token (writes will ask again). */
  get readOnly() {
    return sessionStorage.getItem(READ_ONLY_KEY) === "1";
  },
  set readOnly(value) {
    if (value) sessionStorage.setItem(READ_ONLY_KEY, "1");
    else sessionStorage.removeItem(READ_ONLY_KEY);
  },
};

/** An answer other than 2xx, or no answer at all (status 0). */
export class ApiError extends Error {
  constructor(status, code, message, detail = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.line = detail.line;
    this.column = detail.column;
    this.detail = detail;
  }

  get unreachable() {
    return this.status === 0;
  }
}

const listeners = { unreachable: new Set(), reachable: new Set(), unauthorized: new Set() };

/** Subscribes to "unreachable" (error), "reachable" (), "unauthorized" (error). */
export function on(what, fn) {
  listeners[what].add(fn);
  return () => listeners[what].delete(fn);
}

export function emit(what, ...args) {
  for (const fn of listeners[what]) fn(...args);
}

// The last answer to each GET asked with `reuse`, with its ETag: a poll of
// something unchanged then costs a 304 without a body.
const answers = new Map();
const ANSWERS_KEPT = 32;

// The server answers every request within 30 s (408 past that). A request
// still unanswered later sits on a dead connection (a replica gone mid-way,
// a proxy that dropped it): it is given up, so the banner says so and the
// retries take a new connection, instead of the page loading forever.
const ANSWER_WITHIN_MS = 35000;
// A shorter wait for the tab, set by the browser tests.
const ANSWER_WITHIN_KEY = "logstash-mesos.answer-within-ms";

function answerWithinMs() {
  const set = Number(sessionStorage.getItem(ANSWER_WITHIN_KEY));
  return set > 0 ? set : ANSWER_WITHIN_MS;
}

/**
 * Calls the API. Resolves with the parsed JSON body; rejects with ApiError.
 * `token` overrides the tab's token (to check a new one). With `reuse`, a GET
 * sends the ETag of its last answer and resolves with that same object when
 * the server answers 304 Not Modified.
 */
export async function api(path, { method = "GET", body, token, signal, reuse = false } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const secret = token === undefined ? session.token : token;
  if (secret) headers.Authorization = `Bearer ${secret}`;
  const kept = reuse ? answers.get(path) : undefined;
  if (kept) headers["If-None-Match"] = kept.etag;
  const within = answerWithinMs();
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(), within);
  const cancel = () => deadline.abort();
  if (signal) {
    if (signal.aborted) cancel();
    else signal.addEventListener("abort", cancel, { once: true });
  }
  let response;
  let text;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: deadline.signal,
      cache: "no-store",
    });
    text = await response.text();
  } catch (e) {
    if (signal && signal.aborted) throw e;
    const why = e.name === "AbortError" ? `not answered within ${within / 1000} s` : e.message;
    const error = new ApiError(0, "unreachable", `${method} ${path}: no answer (${why})`);
    emit("unreachable", error);
    throw error;
  } finally {
    clearTimeout(timer);
    if (signal) signal.removeEventListener("abort", cancel);
  }
  if (response.status === 304 && kept) {
    emit("reachable");
    return kept.json;
  }
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (response.ok) {
    emit("reachable");
    const etag = response.headers.get("ETag");
    if (reuse && etag) {
      answers.delete(path);
      answers.set(path, { etag, json });
      if (answers.size > ANSWERS_KEPT) answers.delete(answers.keys().next().value);
    }
    return json;
  }
  const detail = (json && json.error) || {};
  const error = new ApiError(
    response.status,
    detail.code || `http_${response.status}`,
    detail.message || `${method} ${path} answered ${response.status} ${response.statusText}`,
    detail,
  );
  if (response.status >= 500 || response.status === 408) emit("unreachable", error);
  else emit("reachable");
  if (response.status === 401 && token === undefined) emit("unauthorized", error);
  return Promise.reject(error);
}

/** The API path of a config, `suffix` being "", "/history" or "/revert". */
export function configUrl(name, suffix = "") {
  // "." and ".." would be resolved away as path segments: only the seed's
  // query form reaches them (and it has no history or revert).
  if (!suffix && (name === "." || name === "..")) {
    return `api/configs?name=${encodeURIComponent(name)}`;
  }
  return `api/configs/${encodeURIComponent(name)}${suffix}`;
}

/** GET that answers null for 404 instead of failing (endpoints that may not exist yet). */
export async function apiOptional(path) {
  try {
    return await api(path);
  } catch (e) {
    if (e.status === 404) return null;
    throw e;
  }
}
