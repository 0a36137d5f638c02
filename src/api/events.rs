//! The audit history: filtered, paginated reads and a live SSE stream.

use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures::{Stream, StreamExt, stream};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::events::time::parse_rfc3339;
use crate::events::{Actor, Envelope, EventType};
use crate::state::EventFilter;

use super::AppState;
use super::configs::SEQ_HEADER;
use super::error::{ApiError, ErrorBody};
use super::extract::QueryParams;
use super::views::{EventJson, EventPage};

const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;
/// Events read from the store per step of an SSE stream.
const STREAM_BATCH: usize = 256;

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

/// The audit history, filtered and paginated.
#[utoipa::path(get, path = "/api/events", operation_id = "list_events", params(EventsQuery),
    responses((status = 200, body = EventPage), (status = 400, body = ErrorBody)))]
pub async fn list(
    State(app): State<AppState>,
    QueryParams(query): QueryParams<EventsQuery>,
) -> Result<Json<EventPage>, ApiError> {
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

    let mut events = Vec::with_capacity(limit + 1);
    if lo <= hi {
        let candidates = journal.read(|s| s.audit.candidates(&filter));
        let wanted = |e: &Envelope| filter.matches(e);
        match candidates {
            None => {
                for env in journal.events(lo, hi, ascending) {
                    let env = env?;
                    if wanted(&env) {
                        events.push(env);
                        if events.len() > limit {
                            break;
                        }
                    }
                }
            }
            Some(seqs) => {
                let start = seqs.partition_point(|s| *s < lo);
                let end = seqs.partition_point(|s| *s <= hi);
                let in_range = &seqs[start..end];
                let ordered: Box<dyn Iterator<Item = &u64>> = if ascending {
                    Box::new(in_range.iter())
                } else {
                    Box::new(in_range.iter().rev())
                };
                for seq in ordered {
                    if let Some(env) = journal.event(*seq)?.filter(wanted) {
                        events.push(env);
                        if events.len() > limit {
                            break;
                        }
                    }
                }
            }
        }
    }
    let next_cursor = if events.len() > limit {
        events.truncate(limit);
        events.last().map(|e| e.seq.to_string())
    } else {
        None
    };
    Ok(Json(EventPage {
        events: events.iter().map(EventJson::from).collect(),
        next_cursor,
        last_seq,
    }))
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
    /// Start after this seq (the `Last-Event-ID` header takes precedence).
    after: Option<u64>,
}

/// Live events as Server-Sent Events: `id` is the seq, `event` the type, `data`
/// the event as in `/api/events`. Reconnecting with `Last-Event-ID` resumes
/// without gaps; without it the stream starts with the next new event. The
/// `x-logstash-mesos-seq` header gives the seq the stream starts after.
#[utoipa::path(get, path = "/api/events/stream", params(StreamQuery),
    responses((status = 200, content_type = "text/event-stream", description = "event stream")))]
pub async fn stream(
    State(app): State<AppState>,
    headers: HeaderMap,
    QueryParams(query): QueryParams<StreamQuery>,
) -> (
    [(&'static str, String); 1],
    Sse<impl Stream<Item = Result<SseEvent, Infallible>>>,
) {
    let resume = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let after = resume
        .or(query.after)
        .unwrap_or_else(|| app.journal.last_seq());
    let follow = app.journal.subscribe();
    let shutdown = app.shutdown.clone();
    let batches = stream::unfold(
        (app, follow, after),
        |(app, mut follow, after)| async move {
            loop {
                let batch: Vec<Envelope> = app
                    .journal
                    .events(after + 1, u64::MAX, true)
                    .take(STREAM_BATCH)
                    .map_while(|e| {
                        e.inspect_err(|e| tracing::error!(%e, "event stream stopped"))
                            .ok()
                    })
                    .collect();
                if let Some(last) = batch.last().map(|e| e.seq) {
                    return Some((batch, (app, follow, last)));
                }
                if follow.changed().await.is_err() {
                    return None;
                }
            }
        },
    );
    let events = batches
        .flat_map(|batch| stream::iter(batch.into_iter().map(|env| Ok(sse_event(&env)))))
        .take_until(shutdown.cancelled_owned());
    // The seq the stream starts after: a client that reconnects with it as
    // Last-Event-ID misses nothing, even if no event came before the drop.
    (
        [(SEQ_HEADER, after.to_string())],
        Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))),
    )
}

fn sse_event(env: &Envelope) -> SseEvent {
    let json = EventJson::from(env);
    SseEvent::default()
        .id(env.seq.to_string())
        .event(json.event_type.clone())
        .json_data(&json)
        .unwrap_or_else(|_| SseEvent::default().id(env.seq.to_string()).event("error"))
}
