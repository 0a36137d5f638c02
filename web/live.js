// The live event stream: GET /api/events/stream read with fetch() instead of
// EventSource, because EventSource cannot send an Authorization header and
// the API may protect reads (--api-auth-reads). The token thus stays out of
// URLs and server logs. Reconnects resume with Last-Event-ID, so no event is
// missed across a dropped connection.

import { emit, session, ApiError } from "./api.js";
import { sleep } from "./util.js";

export class LiveStream {
  /**
   * onEvent(event): each event as in /api/events;
   * onState(state): "connecting", "connected", "reconnecting", "unauthorized", "stopped".
   */
  constructor({ onEvent, onState }) {
    this.onEvent = onEvent;
    this.onState = onState;
    this.lastId = null;
    this.running = false;
    this.controller = null;
    this.generation = 0;
  }

  start() {
    if (this.running) return;
    this.running = true;
    this.generation += 1;
    this.loop(this.generation);
  }

  stop(state = "stopped") {
    this.running = false;
    this.generation += 1;
    if (this.controller) this.controller.abort();
    this.onState(state);
  }

  /** Reconnects now (e.g. with a new token). */
  restart() {
    this.stop();
    this.start();
  }

  async loop(generation) {
    let delay = 1000;
    const current = () => this.running && this.generation === generation;
    while (current()) {
      this.controller = new AbortController();
      this.onState(this.lastId === null ? "connecting" : "reconnecting");
      try {
        const headers = { Accept: "text/event-stream" };
        if (session.token) headers.Authorization = `Bearer ${session.token}`;
        if (this.lastId !== null) headers["Last-Event-ID"] = String(this.lastId);
        const response = await fetch("api/events/stream", {
          headers,
          signal: this.controller.signal,
          cache: "no-store",
        });
        if (response.status === 401) {
          this.running = false;
          this.onState("unauthorized");
          emit("unauthorized", new ApiError(401, "unauthorized", "the event stream needs a token"));
          return;
        }
        if (!response.ok) throw new Error(`the event stream answered ${response.status}`);
        if (this.lastId === null) {
          // Without Last-Event-ID the stream starts after the newest event.
          const start = response.headers.get("x-logstash-mesos-seq");
          if (start !== null) this.lastId = Number(start);
        }
        this.onState("connected");
        emit("reachable");
        delay = 1000;
        await this.read(response.body, current);
      } catch (e) {
        if (!current()) return;
        emit(
          "unreachable",
          new ApiError(0, "unreachable", `live event stream: ${e.message || e}`),
        );
      }
      if (!current()) return;
      this.onState("reconnecting");
      await sleep(delay);
      delay = Math.min(delay * 2, 15000);
    }
  }

  /** Parses the text/event-stream body and dispatches each event. */
  async read(body, current) {
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    let data = [];
    let id = null;
    for (;;) {
      const { value, done } = await reader.read();
      if (done || !current()) return;
      buffer += value;
      let newline;
      while ((newline = buffer.indexOf("\n")) >= 0) {
        let line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        if (line.endsWith("\r")) line = line.slice(0, -1);
        if (line === "") {
          if (data.length) this.dispatch(id, data.join("\n"));
          data = [];
          id = null;
        } else if (line.startsWith(":")) {
          // A keep-alive comment.
        } else {
          const colon = line.indexOf(":");
          const field = colon < 0 ? line : line.slice(0, colon);
          let val = colon < 0 ? "" : line.slice(colon + 1);
          if (val.startsWith(" ")) val = val.slice(1);
          if (field === "data") data.push(val);
          else if (field === "id") id = val;
        }
      }
    }
  }

  dispatch(id, data) {
    let event;
    try {
      event = JSON.parse(data);
    } catch {
      return;
    }
    if (id !== null && id !== "") this.lastId = Number(id);
    this.onEvent(event);
  }
}
