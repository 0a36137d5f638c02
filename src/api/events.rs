//! The audit history: filtered, paginated reads and a live SSE stream.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::{StreamExt, stream};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::events::time::parse_rfc3339;
use crate::events::{Actor, Envelope, EventType};
use crate::state::{AuditIndex, EventFilter};

use super::AppState;
use super::configs::SEQ_HEADER;
use super::error::{ApiError, ErrorBody};
use super::extract::QueryParams;
use crate::views::{EventJson, EventPage};

const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;
/// Serialized events per page at most; a page holds at least one event,
/// however large, and says where the next page starts.
pub const MAX_PAGE_BYTES: usize = 4 * 1024 * 1024;
/// Events read per page at most: a filter that matches few of many events
/// ends the page early (with a cursor) instead of reading the whole log.
const MAX_SCAN: usize = 10_000;
/// Candidate seqs taken from the audit index per hold of the state lock.
const CHUNK: usize = 256;

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Event types, comma separated (e.g. `ConfigCreated,ConfigDeleted`).
    #[serde(rename = "type")]
    #[param(rename = "type")]
    event_type: Option<String>,
    /// Only events about this config.
    config: Option<String>,
    /// Only events by this actor (`api:alice`, or just the token label `alice`).
    actor: Option<String>,
    /// Lowest seq, inclusive.
    from_seq: Option<u64>,
    /// Highest seq, inclusive.
    to_seq: Option<u64>,
    /// Earliest time, inclusive (RFC 3339).
    since: Option<String>,
    /// Latest time, inclusive (RFC 3339).
    until: Option<String>,
    /// Page size, 1 to 1000 (default 100).
    limit: Option<usize>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// `desc` (newest first, default) or `asc`.
    order: Option<String>,
}

/// The audit history, filtered and paginated. A page holds up to `limit`
/// events and about 4 MiB of them; `next_cursor` continues it.
#[utoipa::path(get, path = "/api/events", operation_id = "list_events", params(EventsQuery),
    responses((status = 200, body = EventPage), (status = 400, body = ErrorBody)))]
pub async fn list(
    State(app): State<AppState>,
    QueryParams(query): QueryParams<EventsQuery>,
) -> Result<Response, ApiError> {
    let filter = filter_of(&query)?;
    let ascending = match query.order.as_deref() {
        None | Some("desc") => false,
        Some("asc") => true,
        Some(other) => {
            return Err(ApiError::bad_request(
                "invalid_query",
                format!("order must be asc or desc, not {other:?}"),
            ));
        }
    };
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("limit must be between 1 and {MAX_LIMIT}"),
        ));
    }
    let journal = &app.journal;
    let last_seq = journal.last_seq();
    let mut lo = query.from_seq.unwrap_or(1).max(1);
    let mut hi = query.to_seq.unwrap_or(last_seq).min(last_seq);
    if let Some(since) = &query.since {
        lo = lo.max(journal.seq_at_time(time_param("since", since)?.saturating_sub(1))? + 1);
    }
    if let Some(until) = &query.until {
        hi = hi.min(journal.seq_at_time(time_param("until", until)?)?);
    }
    if let Some(cursor) = &query.cursor {
        let cursor: u64 = cursor
            .parse()
            .map_err(|_| ApiError::bad_request("invalid_query", "cursor is not valid"))?;
        if ascending {
            lo = lo.max(cursor.saturating_add(1));
        } else {
            hi = hi.min(cursor.saturating_sub(1));
        }
    }

    let mut page = Page::new(limit);
    if lo <= hi {
        if narrows(&filter) {
            // Seqs come from the index a chunk at a time, so the state lock
            // is held for a bounded time; events are read outside it.
            let (mut from, mut to) = (lo, hi);
            'chunks: while from <= to {
                let seqs =
                    journal.read(|s| candidates(&s.audit, &filter, from, to, ascending, CHUNK));
                let Some(&last) = seqs.last() else { break };
                for seq in seqs {
                    if let Some(env) = journal.event(seq)?
                        && page.offer(&env, &filter) == Offer::Stop
                    {
                        break 'chunks;
                    }
                }
                if ascending {
                    from = last + 1;
                } else if last == 0 {
                    break;
                } else {
                    to = last - 1;
                }
            }
        } else {
            for env in journal.events(lo, hi, ascending) {
                if page.offer(&env?, &filter) == Offer::Stop {
                    break;
                }
            }
        }
    }
    Ok(page.into_response(last_seq))
}

/// Whether the audit index can narrow the events a filter reads.
fn narrows(filter: &EventFilter) -> bool {
    filter.config.is_some() || filter.actor.is_some() || !filter.types.is_empty()
}

/// Up to `max` seqs in `lo..=hi`, in the order asked, from the narrowest
/// index list that applies to `filter`; they can match it, and every event
/// in the range that does match is among them. Bounded work: a binary
/// search per list and `max` steps of a merge over the filter's types.
pub fn candidates(
    index: &AuditIndex,
    filter: &EventFilter,
    lo: u64,
    hi: u64,
    ascending: bool,
    max: usize,
) -> Vec<u64> {
    let in_range = |list: &[u64]| -> Vec<u64> {
        let start = list.partition_point(|s| *s < lo);
        let end = list.partition_point(|s| *s <= hi);
        let slice = &list[start..end.max(start)];
        if ascending {
            slice.iter().take(max).copied().collect()
        } else {
            slice.iter().rev().take(max).copied().collect()
        }
    };
    let mut lists: Vec<Vec<&[u64]>> = Vec::new();
    if let Some(config) = &filter.config {
        lists.push(vec![index.by_config(config)]);
    }
    if let Some(actor) = &filter.actor {
        lists.push(vec![index.by_actor(actor)]);
    }
    if !filter.types.is_empty() {
        lists.push(filter.types.iter().map(|t| index.by_type(*t)).collect());
    }
    let Some(narrowest) = lists
        .into_iter()
        .min_by_key(|l| l.iter().map(|s| s.len()).sum::<usize>())
    else {
        return Vec::new();
    };
    // Each list is ascending; merge their parts in the range (the filter's
    // types are distinct, so no seq is in two of them).
    let mut parts: Vec<std::iter::Peekable<std::vec::IntoIter<u64>>> = narrowest
        .into_iter()
        .map(|list| in_range(list).into_iter().peekable())
        .collect();
    let mut merged = Vec::with_capacity(max.min(CHUNK));
    while merged.len() < max {
        let next = parts
            .iter_mut()
            .enumerate()
            .filter_map(|(i, p)| p.peek().map(|s| (i, *s)))
            .min_by_key(|(_, s)| if ascending { *s } else { u64::MAX - *s });
        let Some((i, seq)) = next else { break };
        parts[i].next();
        merged.push(seq);
    }
    merged
}

#[derive(Debug, PartialEq, Eq)]
enum Offer {
    More,
    Stop,
}

/// A page of events being filled, bounded in count, bytes and events read.
struct Page {
    limit: usize,
    /// The events' JSON, comma separated.
    body: Vec<u8>,
    count: usize,
    scanned: usize,
    last_included: Option<u64>,
    next_cursor: Option<u64>,
}

impl Page {
    fn new(limit: usize) -> Page {
        Page {
            limit,
            body: Vec::new(),
            count: 0,
            scanned: 0,
            last_included: None,
            next_cursor: None,
        }
    }

    /// Takes the next event in order if it matches and fits; says whether
    /// to read on.
    fn offer(&mut self, env: &Envelope, filter: &EventFilter) -> Offer {
        self.scanned += 1;
        if filter.matches(env) {
            if self.count == self.limit {
                // One more exists: the page is full and has a next one.
                self.next_cursor = self.last_included;
                return Offer::Stop;
            }
            let json = match serde_json::to_vec(&EventJson::from(env)) {
                Ok(json) => json,
                Err(e) => {
                    tracing::error!(seq = env.seq, error = %e, "an event does not serialize");
                    return Offer::More;
                }
            };
            if self.count > 0 && self.body.len() + json.len() > MAX_PAGE_BYTES {
                self.next_cursor = self.last_included;
                return Offer::Stop;
            }
            if self.count > 0 {
                self.body.push(b',');
            }
            self.body.extend_from_slice(&json);
            self.count += 1;
            self.last_included = Some(env.seq);
        }
        if self.scanned >= MAX_SCAN {
            self.next_cursor = Some(env.seq);
            return Offer::Stop;
        }
        Offer::More
    }

    fn into_response(self, last_seq: u64) -> Response {
        let mut body = Vec::with_capacity(self.body.len() + 64);
        body.extend_from_slice(b"{\"events\":[");
        body.extend_from_slice(&self.body);
        body.extend_from_slice(b"],\"next_cursor\":");
        match self.next_cursor {
            Some(seq) => body.extend_from_slice(format!("\"{seq}\"").as_bytes()),
            None => body.extend_from_slice(b"null"),
        }
        body.extend_from_slice(format!(",\"last_seq\":{last_seq}}}").as_bytes());
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body,
        )
            .into_response()
    }
}

fn filter_of(query: &EventsQuery) -> Result<EventFilter, ApiError> {
    let mut types = Vec::new();
    for name in query.event_type.iter().flat_map(|t| t.split(',')) {
        let name = name.trim();
        let t = EventType::parse(name).ok_or_else(|| {
            let known: Vec<&str> = EventType::ALL.iter().map(|t| t.as_str()).collect();
            ApiError::bad_request(
                "invalid_query",
                format!("unknown event type {name:?}; known: {}", known.join(", ")),
            )
        })?;
        types.push(t);
    }
    // A type named many times costs once.
    types.sort_unstable();
    types.dedup();
    let actor = query
        .actor
        .as_deref()
        .map(|a| a.parse().unwrap_or_else(|_| Actor::Api(a.to_owned())));
    Ok(EventFilter {
        types,
        config: query.config.clone(),
        actor,
    })
}

fn time_param(name: &str, value: &str) -> Result<u64, ApiError> {
    parse_rfc3339(value).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_query",
            format!("{name} must be an RFC 3339 time, not {value:?}"),
        )
    })
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StreamQuery {
    /// Start after this seq (the `Last-Event-ID` header takes precedence);
    /// at most the last seq.
    after: Option<u64>,
}

/// Live events as Server-Sent Events: `id` is the seq, `event` the type, `data`
/// the event as in `/api/events`. Reconnecting with `Last-Event-ID` resumes
/// without gaps; without it the stream starts with the next new event. The
/// `x-logstash-mesos-seq` header gives the seq the stream starts after. A
/// start beyond the last event is refused (400), as are streams beyond
/// `--max-event-streams` (429).
#[utoipa::path(get, path = "/api/events/stream", params(StreamQuery),
    responses((status = 200, content_type = "text/event-stream", description = "event stream"),
        (status = 400, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn stream(
    State(app): State<AppState>,
    headers: HeaderMap,
    QueryParams(query): QueryParams<StreamQuery>,
) -> Result<Response, ApiError> {
    let last = app.journal.last_seq();
    let resume = match headers.get("last-event-id").map(|v| v.to_str()) {
        None => None,
        Some(Ok(v)) if v.trim().is_empty() => None,
        Some(Ok(v)) => Some(v.trim().parse::<u64>().map_err(|_| {
            ApiError::bad_request("invalid_query", format!("Last-Event-ID {v:?} is not a seq"))
        })?),
        Some(Err(_)) => {
            return Err(ApiError::bad_request(
                "invalid_query",
                "Last-Event-ID is not a seq",
            ));
        }
    };
    let after = resume.or(query.after).unwrap_or(last);
    if after > last {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("the stream cannot start after seq {after}: the last event is {last}"),
        ));
    }
    let permit = app.event_streams.clone().try_acquire_owned().map_err(|_| {
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_streams",
            format!(
                "{} event streams are open, the most this scheduler serves \
                     (--max-event-streams); retry later",
                app.http.max_event_streams
            ),
        )
    })?;
    let follow = app.journal.subscribe();
    let shutdown = app.shutdown.clone();
    // One event per step, read when the client takes the previous one: an
    // idle client holds at most one event and the connection's buffer.
    let events = stream::unfold(
        (app, follow, after, permit),
        |(app, mut follow, after, permit)| async move {
            loop {
                if after < app.journal.last_seq() {
                    match app.journal.event(after + 1) {
                        Ok(Some(env)) => {
                            let event = sse_event(&env);
                            return Some((
                                Ok::<_, Infallible>(event),
                                (app, follow, after + 1, permit),
                            ));
                        }
                        Ok(None) => {}
                        Err(e) => {
                            tracing::error!(%e, "event stream stopped");
                            return None;
                        }
                    }
                }
                if follow.changed().await.is_err() {
                    return None;
                }
            }
        },
    )
    .take_until(shutdown.cancelled_owned());
    // The seq the stream starts after: a client that reconnects with it as
    // Last-Event-ID misses nothing, even if no event came before the drop.
    Ok((
        [(SEQ_HEADER, after.to_string())],
        Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))),
    )
        .into_response())
}

fn sse_event(env: &Envelope) -> SseEvent {
    let json = EventJson::from(env);
    SseEvent::default()
        .id(env.seq.to_string())
        .event(json.event_type.clone())
        .json_data(&json)
        .unwrap_or_else(|_| SseEvent::default().id(env.seq.to_string()).event("error"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{ConfigKind, Event};
    use crate::state::State;

    fn history() -> State {
        let log: Vec<Envelope> = (1..=40)
            .map(|seq| Envelope {
                seq,
                at: seq,
                actor: Actor::Api(if seq % 2 == 0 { "even" } else { "odd" }.into()),
                event: match seq % 3 {
                    0 => Event::ConfigDeleted { name: "x".into() },
                    1 => Event::ConfigCreated {
                        name: "x".into(),
                        kind: ConfigKind::Docker,
                        input: String::new(),
                    },
                    _ => Event::LeaderChanged {
                        replica: 1,
                        term: seq,
                    },
                },
            })
            .collect();
        State::replay(&log)
    }

    #[test]
    fn candidates_come_in_order_within_the_range_and_the_bound() {
        let state = history();
        let types = EventFilter {
            types: vec![EventType::ConfigCreated, EventType::ConfigDeleted],
            ..EventFilter::default()
        };
        assert_eq!(
            candidates(&state.audit, &types, 5, 13, true, 100),
            [6, 7, 9, 10, 12, 13]
        );
        assert_eq!(
            candidates(&state.audit, &types, 5, 13, false, 4),
            [13, 12, 10, 9]
        );
        // The narrowest list: the actor's 20 events, not the types' 27.
        let both = EventFilter {
            actor: Some(Actor::Api("even".into())),
            ..types.clone()
        };
        assert_eq!(candidates(&state.audit, &both, 1, 40, true, 3), [2, 4, 6]);
        assert!(candidates(&state.audit, &types, 30, 20, true, 10).is_empty());
    }

    #[test]
    fn pages_stop_at_the_limit_with_a_cursor_only_when_more_match() {
        let filter = EventFilter::default();
        let env = |seq| Envelope {
            seq,
            at: seq,
            actor: Actor::System,
            event: Event::ConfigDeleted { name: "x".into() },
        };
        let mut page = Page::new(2);
        assert_eq!(page.offer(&env(1), &filter), Offer::More);
        assert_eq!(page.offer(&env(2), &filter), Offer::More);
        assert_eq!(page.offer(&env(3), &filter), Offer::Stop);
        assert_eq!((page.count, page.next_cursor), (2, Some(2)));
        let mut last = Page::new(2);
        last.offer(&env(1), &filter);
        assert_eq!(last.next_cursor, None);
        let json: serde_json::Value =
            serde_json::from_slice(&axum_body(last.into_response(9))).unwrap();
        assert_eq!(json["events"][0]["seq"], 1);
        assert_eq!(json["next_cursor"], serde_json::Value::Null);
        assert_eq!(json["last_seq"], 9);
    }

    #[test]
    fn pages_are_bounded_in_bytes_but_hold_one_event_at_least() {
        let filter = EventFilter::default();
        let big = |seq| Envelope {
            seq,
            at: seq,
            actor: Actor::System,
            event: Event::ConfigCreated {
                name: "x".into(),
                kind: ConfigKind::Docker,
                input: "#".repeat(MAX_PAGE_BYTES / 4),
            },
        };
        let mut page = Page::new(1000);
        for seq in 1..=3 {
            assert_eq!(page.offer(&big(seq), &filter), Offer::More);
        }
        assert_eq!(page.offer(&big(4), &filter), Offer::Stop);
        assert_eq!((page.count, page.next_cursor), (3, Some(3)));
        assert!(page.body.len() <= MAX_PAGE_BYTES);
        let mut huge = Page::new(10);
        let one = Envelope {
            event: Event::ConfigCreated {
                name: "x".into(),
                kind: ConfigKind::Docker,
                input: "#".repeat(MAX_PAGE_BYTES + 1),
            },
            ..big(1)
        };
        assert_eq!(huge.offer(&one, &filter), Offer::More);
        assert_eq!(huge.count, 1);
    }

    #[test]
    fn a_sparse_filter_ends_the_page_after_a_bounded_read_with_a_cursor() {
        let filter = EventFilter {
            config: Some("wanted".into()),
            ..EventFilter::default()
        };
        let other = |seq| Envelope {
            seq,
            at: seq,
            actor: Actor::System,
            event: Event::ConfigDeleted {
                name: "other".into(),
            },
        };
        let mut page = Page::new(100);
        let mut read = 0;
        for seq in (1..=50_000).rev() {
            read += 1;
            if page.offer(&other(seq), &filter) == Offer::Stop {
                break;
            }
        }
        assert_eq!(read, MAX_SCAN);
        assert_eq!(page.count, 0);
        // Descending: the next page starts below the last event read.
        assert_eq!(page.next_cursor, Some(50_000 - MAX_SCAN as u64 + 1));
    }

    fn axum_body(response: Response) -> Vec<u8> {
        let body = response.into_body();
        futures::executor::block_on(axum::body::to_bytes(body, usize::MAX))
            .unwrap()
            .to_vec()
    }
}
