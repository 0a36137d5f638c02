//! Errors of the scheduler client, typed so the scheduler loop can tell
//! "retry later" from "stand down" from "fix the configuration".

use super::redirect::UrlError;
use crate::mesos::stream::StreamError;

/// The text of the ERROR a master sends to the old stream when another
/// instance subscribes with the same framework id.
pub const FAILED_OVER_MESSAGE: &str = "Framework failed over";

/// The text of the ERROR a master sends when the framework id was torn down
/// (or timed out) and can never subscribe again.
pub const REMOVED_MESSAGE: &str = "Framework has been removed";

/// Why a SUBSCRIBE did not produce a subscription.
#[derive(Debug, thiserror::Error)]
pub enum SubscribeError {
    /// Another scheduler instance subscribed with this framework id. This
    /// instance must stand down and must not re-subscribe on its own, or the
    /// two would keep taking the framework from each other.
    #[error("framework failed over to another scheduler instance: {0}")]
    FailedOver(String),
    /// The framework id was removed (torn down or failover timeout expired);
    /// the caller must subscribe afresh without an id.
    #[error("framework has been removed: {0}")]
    Removed(String),
    /// The master accepted the connection but refused the subscription with
    /// an ERROR event (bad role, bad user, principal change, ...).
    #[error("subscription refused by the master: {0}")]
    Refused(String),
    /// 401: credentials missing or wrong.
    #[error("unauthorized (401): {0}")]
    Unauthorized(String),
    /// 403: the principal may not subscribe.
    #[error("forbidden (403): {0}")]
    Forbidden(String),
    /// 400: the SUBSCRIBE call failed validation.
    #[error("bad request (400): {0}")]
    BadRequest(String),
    /// A re-subscription came back with a different framework id than the
    /// one sent, which would orphan every running task.
    #[error("re-subscribed as framework {got:?} but asked for {expected:?}")]
    FrameworkIdChanged {
        /// The id that was sent.
        expected: String,
        /// The id SUBSCRIBED carried.
        got: String,
    },
    /// Any other status that retrying will not fix (405, 406, 415, 501, ...).
    #[error("unexpected HTTP status {status}: {body}")]
    UnexpectedStatus {
        /// The status code.
        status: u16,
        /// The start of the response body.
        body: String,
    },
    /// 503 (no leader, still recovering), 404 (routes not installed yet in
    /// early start-up), 429 or another 5xx: try elsewhere or later.
    #[error("master unavailable ({status}): {body}")]
    Unavailable {
        /// The status code.
        status: u16,
        /// The start of the response body.
        body: String,
    },
    /// A 307 whose `Location` could not be used.
    #[error("bad redirect: {0}")]
    Redirect(#[from] UrlError),
    /// Redirect chain longer than the configured limit.
    #[error("more than {0} redirects")]
    TooManyRedirects(u32),
    /// Connection refused, reset, DNS failure, ...
    #[error("transport error: {0}")]
    Transport(#[from] reqwest::Error),
    /// TLS with the master failed (an untrusted certificate, ...). Retried,
    /// since a master's certificate can be fixed while the scheduler runs.
    #[error("TLS with the master failed: {0}")]
    Tls(String),
    /// No response headers or no first event in time.
    #[error("timed out waiting for the master")]
    Timeout,
    /// A 200 without the `Mesos-Stream-Id` header.
    #[error("subscription response carries no Mesos-Stream-Id")]
    MissingStreamId,
    /// A 200 whose body is not a protobuf stream.
    #[error("subscription stream has content type {0:?}, not protobuf")]
    NotProtobuf(String),
    /// The stream broke before the first event.
    #[error("subscription stream broke before SUBSCRIBED: {0}")]
    Stream(#[from] StreamError),
    /// The stream ended before the first event.
    #[error("subscription stream closed before SUBSCRIBED")]
    ClosedEarly,
    /// The first event was neither SUBSCRIBED nor ERROR.
    #[error("first event on the subscription was type {0}, not SUBSCRIBED")]
    UnexpectedFirstEvent(i32),
}

impl SubscribeError {
    /// Whether trying again (another master, or later) can help. The others
    /// need a decision by the caller or a configuration change.
    pub fn is_retryable(&self) -> bool {
        !matches!(
            self,
            SubscribeError::FailedOver(_)
                | SubscribeError::Removed(_)
                | SubscribeError::Refused(_)
                | SubscribeError::Unauthorized(_)
                | SubscribeError::Forbidden(_)
                | SubscribeError::BadRequest(_)
                | SubscribeError::FrameworkIdChanged { .. }
                | SubscribeError::UnexpectedStatus { .. }
        )
    }

    /// A failed request: a TLS failure named as such, else a transport error.
    pub fn from_request(error: reqwest::Error) -> Self {
        match crate::mesos::http::tls_problem(&error) {
            Some(reason) => SubscribeError::Tls(reason),
            None => SubscribeError::Transport(error),
        }
    }

    /// Classifies the message of an ERROR event.
    pub fn from_error_event(message: String) -> Self {
        match classify_error_message(&message) {
            ErrorKind::FailedOver => SubscribeError::FailedOver(message),
            ErrorKind::Removed => SubscribeError::Removed(message),
            ErrorKind::Other => SubscribeError::Refused(message),
        }
    }
}

/// What an ERROR event means for this instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// "Framework failed over": another instance took over.
    FailedOver,
    /// "Framework has been removed": the id is dead.
    Removed,
    /// Anything else.
    Other,
}

/// Classifies an ERROR event's message. Matching is on the phrases the
/// master uses (case-insensitive, anywhere in the text), since the event
/// carries no code.
pub fn classify_error_message(message: &str) -> ErrorKind {
    let m = message.to_ascii_lowercase();
    if m.contains(&FAILED_OVER_MESSAGE.to_ascii_lowercase()) {
        ErrorKind::FailedOver
    } else if m.contains(&REMOVED_MESSAGE.to_ascii_lowercase()) {
        ErrorKind::Removed
    } else {
        ErrorKind::Other
    }
}

/// Why a non-SUBSCRIBE call failed. A 202 only means the master queued the
/// call; outcomes arrive as events.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// There is no live subscription to send the call on (not subscribed
    /// yet, or reconnecting). Retry after the next `Subscribed`.
    #[error("no live subscription")]
    NoSubscription,
    /// 403: the master does not consider the framework subscribed (the
    /// stream dropped and a re-subscribe has not completed).
    #[error("framework not subscribed (403): {0}")]
    NotSubscribed(String),
    /// 400: validation failed, or the stream id is stale because another
    /// instance has taken over.
    #[error("bad request (400): {0}")]
    BadRequest(String),
    /// 401: credentials missing or wrong.
    #[error("unauthorized (401): {0}")]
    Unauthorized(String),
    /// 307: the master lost leadership; the subscription will move.
    #[error("master is no longer the leader (redirect to {0:?})")]
    NotLeader(Option<String>),
    /// 503 and friends: the master cannot take calls right now.
    #[error("master unavailable ({status}): {body}")]
    Unavailable {
        /// The status code.
        status: u16,
        /// The start of the response body.
        body: String,
    },
    /// Any other status.
    #[error("unexpected HTTP status {status}: {body}")]
    UnexpectedStatus {
        /// The status code.
        status: u16,
        /// The start of the response body.
        body: String,
    },
    /// Connection-level failure.
    #[error("transport error: {0}")]
    Transport(#[from] reqwest::Error),
    /// No response within the request timeout.
    #[error("call timed out")]
    Timeout,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_messages_are_classified() {
        assert_eq!(
            classify_error_message("Framework failed over"),
            ErrorKind::FailedOver
        );
        assert_eq!(
            classify_error_message("framework FAILED OVER to another scheduler"),
            ErrorKind::FailedOver
        );
        assert_eq!(
            classify_error_message("Framework has been removed"),
            ErrorKind::Removed
        );
        assert_eq!(
            classify_error_message("Role 'x' is not present in the master's --roles"),
            ErrorKind::Other
        );
        assert!(matches!(
            SubscribeError::from_error_event("Framework failed over".into()),
            SubscribeError::FailedOver(_)
        ));
        assert!(matches!(
            SubscribeError::from_error_event("Framework has been removed".into()),
            SubscribeError::Removed(_)
        ));
        assert!(matches!(
            SubscribeError::from_error_event("nope".into()),
            SubscribeError::Refused(_)
        ));
    }

    #[test]
    fn retryability() {
        assert!(SubscribeError::Timeout.is_retryable());
        assert!(
            SubscribeError::Unavailable {
                status: 503,
                body: String::new()
            }
            .is_retryable()
        );
        assert!(!SubscribeError::FailedOver(String::new()).is_retryable());
        assert!(!SubscribeError::Removed(String::new()).is_retryable());
        assert!(!SubscribeError::Unauthorized(String::new()).is_retryable());
        assert!(!SubscribeError::BadRequest(String::new()).is_retryable());
    }
}
