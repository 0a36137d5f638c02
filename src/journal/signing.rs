//! How replicas prove to each other that they hold the cluster secret
//! without ever sending it.
//!
//! Every `/raft/` request carries who sends it to whom, the sender's wall
//! clock time, a random nonce, the SHA-256 of the body and an HMAC-SHA256
//! keyed by the secret over the method, the path and those fields. The
//! receiver recomputes the HMAC from the headers alone, so a caller without
//! the secret is refused before its body is read; it then checks the body
//! against its digest, refuses times outside [`MAX_SKEW`] of its own clock
//! and nonces it has seen ([`Nonces`]). Its answer carries an HMAC over the
//! request's nonce, the status and the body, so the caller knows the answer
//! comes from a secret holder and belongs to this request.
//!
//! What travels is the output of a keyed hash of public data: a listener
//! without the secret can neither recover the secret from it nor forge a
//! request, and a captured request is refused when sent again (same nonce),
//! after the window (stale time), or to another replica (the receiver id is
//! signed).

use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

use super::types::NodeId;

pub const FROM_HEADER: &str = "x-raft-from";
pub const TO_HEADER: &str = "x-raft-to";
pub const TIME_HEADER: &str = "x-raft-time";
pub const NONCE_HEADER: &str = "x-raft-nonce";
pub const BODY_HEADER: &str = "x-raft-body-sha256";
pub const SIGNATURE_HEADER: &str = "x-raft-signature";

/// How far a request's time may be from the receiver's clock. Replica clocks
/// must agree this closely (NTP does much better).
pub const MAX_SKEW: Duration = Duration::from_secs(30);

/// Nonces remembered at most; beyond it the oldest are forgotten and every
/// request not newer than them is refused (see [`Nonces`]). A replica sees a
/// few thousand calls per second at most, so the window holds well under it.
pub const NONCE_MEMORY: usize = 200_000;

/// Labels the signed texts, so a request's MAC can never pass for an
/// answer's, nor either for anything a later version signs.
const REQUEST_LABEL: &str = "logstash-mesos raft request v1";
const RESPONSE_LABEL: &str = "logstash-mesos raft response v1";

/// The fields a request is signed with, besides method, path and body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub from: NodeId,
    pub to: NodeId,
    /// Unix milliseconds of the sender's clock.
    pub time_ms: u64,
    pub nonce: u128,
}

impl Stamp {
    /// A fresh stamp: now, with a random nonce.
    pub fn new(from: NodeId, to: NodeId, time_ms: u64) -> Stamp {
        Stamp {
            from,
            to,
            time_ms,
            nonce: rand::random(),
        }
    }

    /// The stamp's header values, in the order of the `*_HEADER` constants
    /// (from, to, time, nonce).
    pub fn headers(&self) -> [(&'static str, String); 4] {
        [
            (FROM_HEADER, self.from.to_string()),
            (TO_HEADER, self.to.to_string()),
            (TIME_HEADER, self.time_ms.to_string()),
            (NONCE_HEADER, format!("{:032x}", self.nonce)),
        ]
    }

    /// Reads a stamp from header values; `None` when one is missing or malformed.
    pub fn parse(from: &str, to: &str, time: &str, nonce: &str) -> Option<Stamp> {
        if nonce.len() != 32 {
            return None;
        }
        Some(Stamp {
            from: from.parse().ok()?,
            to: to.parse().ok()?,
            time_ms: time.parse().ok()?,
            nonce: u128::from_str_radix(nonce, 16).ok()?,
        })
    }
}

/// The cluster secret, ready to sign and check. It never leaves this value.
#[derive(Clone)]
pub struct Key {
    mac: Hmac<Sha256>,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(<redacted>)")
    }
}

impl Key {
    pub fn new(secret: &str) -> Key {
        Key {
            // HMAC takes keys of any length.
            mac: <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
                .expect("HMAC accepts any key length"),
        }
    }

    fn request_mac(&self, method: &str, path: &str, stamp: &Stamp, digest: &str) -> Hmac<Sha256> {
        let mut mac = self.mac.clone();
        let text = format!(
            "{REQUEST_LABEL}\n{method}\n{path}\n{}\n{}\n{}\n{:032x}\n{digest}\n",
            stamp.from, stamp.to, stamp.time_ms, stamp.nonce,
        );
        mac.update(text.as_bytes());
        mac
    }

    fn response_mac(&self, nonce: u128, status: u16, body: &[u8]) -> Hmac<Sha256> {
        let mut mac = self.mac.clone();
        let text = format!(
            "{RESPONSE_LABEL}\n{nonce:032x}\n{status}\n{}\n",
            hex::encode(Sha256::digest(body))
        );
        mac.update(text.as_bytes());
        mac
    }

    /// The headers that sign a request: the stamp, the body's digest and
    /// the signature.
    pub fn request_headers(
        &self,
        method: &str,
        path: &str,
        stamp: &Stamp,
        body: &[u8],
    ) -> Vec<(&'static str, String)> {
        let digest = body_digest(body);
        let signature = hex::encode(
            self.request_mac(method, path, stamp, &digest)
                .finalize()
                .into_bytes(),
        );
        let mut headers = stamp.headers().to_vec();
        headers.push((BODY_HEADER, digest));
        headers.push((SIGNATURE_HEADER, signature));
        headers
    }

    /// Whether `signature` is that of a request with this stamp and body
    /// digest, compared in constant time. The body itself must then be
    /// checked against `digest`.
    pub fn verify_request(
        &self,
        method: &str,
        path: &str,
        stamp: &Stamp,
        digest: &str,
        signature: &str,
    ) -> bool {
        hex::decode(signature).is_ok_and(|bytes| {
            self.request_mac(method, path, stamp, digest)
                .verify_slice(&bytes)
                .is_ok()
        })
    }

    /// The signature header value of the answer to the request with `nonce`.
    pub fn sign_response(&self, nonce: u128, status: u16, body: &[u8]) -> String {
        hex::encode(
            self.response_mac(nonce, status, body)
                .finalize()
                .into_bytes(),
        )
    }

    /// Whether `signature` is that of the answer to the request with `nonce`.
    pub fn verify_response(&self, nonce: u128, status: u16, body: &[u8], signature: &str) -> bool {
        hex::decode(signature).is_ok_and(|bytes| {
            self.response_mac(nonce, status, body)
                .verify_slice(&bytes)
                .is_ok()
        })
    }
}

/// The body digest a request is signed with (lower-case hex SHA-256).
pub fn body_digest(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

/// Why a correctly signed request is still refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the request's time is more than {}s away from this replica's clock", MAX_SKEW.as_secs())]
    OutsideWindow,
    #[error("the request was seen before (replayed)")]
    Replayed,
}

/// The nonces of the requests accepted within the time window, bounded.
///
/// A request is accepted once: its time must be within [`MAX_SKEW`] of now
/// and newer than `floor`, and its nonce unseen. Nonces whose time left the
/// window are dropped (their requests would be refused as stale anyway);
/// when more than `capacity` remain, the oldest are dropped and `floor`
/// rises to their time, so a replay of any forgotten nonce is refused too.
#[derive(Debug)]
pub struct Nonces {
    capacity: usize,
    by_time: BTreeSet<(u64, u128)>,
    seen: HashSet<u128>,
    floor: u64,
}

impl Nonces {
    pub fn new(capacity: usize) -> Nonces {
        Nonces {
            capacity: capacity.max(1),
            by_time: BTreeSet::new(),
            seen: HashSet::new(),
            floor: 0,
        }
    }

    /// Accepts the request stamped `time_ms` with `nonce` at `now_ms`, or says why not.
    pub fn accept(&mut self, now_ms: u64, time_ms: u64, nonce: u128) -> Result<(), Refusal> {
        let skew = u64::try_from(MAX_SKEW.as_millis()).unwrap_or(u64::MAX);
        if time_ms.abs_diff(now_ms) > skew || time_ms <= self.floor {
            return Err(Refusal::OutsideWindow);
        }
        if !self.seen.insert(nonce) {
            return Err(Refusal::Replayed);
        }
        self.by_time.insert((time_ms, nonce));
        while let Some(&(time, oldest)) = self.by_time.first() {
            let stale = time.saturating_add(skew) < now_ms;
            if !stale && self.by_time.len() <= self.capacity {
                break;
            }
            if !stale {
                self.floor = self.floor.max(time);
            }
            self.by_time.pop_first();
            self.seen.remove(&oldest);
        }
        Ok(())
    }

    /// How many nonces are remembered.
    pub fn remembered(&self) -> usize {
        self.seen.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000_000;

    fn stamp() -> Stamp {
        Stamp {
            from: 1,
            to: 2,
            time_ms: NOW,
            nonce: 0x0123_4567_89ab_cdef_0011_2233_4455_6677,
        }
    }

    /// The digest and signature headers `key` sends for a request.
    fn signed(key: &Key, method: &str, path: &str, s: &Stamp, body: &[u8]) -> (String, String) {
        let headers = key.request_headers(method, path, s, body);
        let value = |name| {
            headers
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.clone())
                .unwrap()
        };
        (value(BODY_HEADER), value(SIGNATURE_HEADER))
    }

    #[test]
    fn a_signature_covers_every_field_and_the_body() {
        let key = Key::new("a-cluster-secret-for-the-tests");
        let s = stamp();
        let (digest, signature) = signed(&key, "POST", "/raft/append", &s, b"body");
        assert_eq!(digest, body_digest(b"body"));
        let verify = |key: &Key, method, path, stamp: &Stamp, digest: &str, signature: &str| {
            key.verify_request(method, path, stamp, digest, signature)
        };
        assert!(verify(
            &key,
            "POST",
            "/raft/append",
            &s,
            &digest,
            &signature
        ));
        let other_body = body_digest(b"bodY");
        let other_key = Key::new("another-secret-of-some-length");
        let changed = [
            verify(&key, "GET", "/raft/append", &s, &digest, &signature),
            verify(&key, "POST", "/raft/vote", &s, &digest, &signature),
            verify(&key, "POST", "/raft/append", &s, &other_body, &signature),
            verify(
                &key,
                "POST",
                "/raft/append",
                &Stamp { from: 3, ..s },
                &digest,
                &signature,
            ),
            verify(
                &key,
                "POST",
                "/raft/append",
                &Stamp { to: 3, ..s },
                &digest,
                &signature,
            ),
            verify(
                &key,
                "POST",
                "/raft/append",
                &Stamp {
                    time_ms: NOW + 1,
                    ..s
                },
                &digest,
                &signature,
            ),
            verify(
                &key,
                "POST",
                "/raft/append",
                &Stamp { nonce: 1, ..s },
                &digest,
                &signature,
            ),
            verify(&other_key, "POST", "/raft/append", &s, &digest, &signature),
            verify(&key, "POST", "/raft/append", &s, &digest, "not hex"),
        ];
        assert_eq!(changed, [false; 9]);
    }

    #[test]
    fn an_answer_is_bound_to_its_request_and_is_no_request() {
        let key = Key::new("a-cluster-secret-for-the-tests");
        let s = stamp();
        let signature = key.sign_response(s.nonce, 200, b"answer");
        assert!(key.verify_response(s.nonce, 200, b"answer", &signature));
        assert!(!key.verify_response(s.nonce + 1, 200, b"answer", &signature));
        assert!(!key.verify_response(s.nonce, 500, b"answer", &signature));
        assert!(!key.verify_response(s.nonce, 200, b"answeR", &signature));
        let (_, request) = signed(&key, "POST", "/raft/append", &s, b"answer");
        assert!(!key.verify_response(s.nonce, 200, b"answer", &request));
    }

    #[test]
    fn the_secret_is_not_in_what_is_sent() {
        let secret = "a-cluster-secret-for-the-tests";
        let key = Key::new(secret);
        let sent: String = key
            .request_headers("POST", "/raft/append", &stamp(), secret.as_bytes())
            .into_iter()
            .map(|(name, value)| format!("{name}: {value}\n"))
            .collect();
        assert!(!sent.contains(secret));
        assert!(!sent.contains(&hex::encode(secret)));
        assert!(!format!("{key:?}").contains(secret));
    }

    #[test]
    fn stamps_round_trip_through_headers() {
        let s = stamp();
        let [from, to, time, nonce] = s.headers().map(|(_, v)| v);
        assert_eq!(Stamp::parse(&from, &to, &time, &nonce), Some(s));
        assert_eq!(Stamp::parse(&from, &to, &time, "12"), None);
        assert_eq!(Stamp::parse("x", &to, &time, &nonce), None);
    }

    #[test]
    fn a_nonce_is_accepted_once_and_only_within_the_window() {
        let mut nonces = Nonces::new(100);
        let skew = MAX_SKEW.as_millis() as u64;
        assert_eq!(nonces.accept(NOW, NOW, 1), Ok(()));
        assert_eq!(nonces.accept(NOW + 5, NOW, 1), Err(Refusal::Replayed));
        assert_eq!(
            nonces.accept(NOW, NOW - skew - 1, 2),
            Err(Refusal::OutsideWindow)
        );
        assert_eq!(
            nonces.accept(NOW, NOW + skew + 1, 3),
            Err(Refusal::OutsideWindow)
        );
        assert_eq!(nonces.accept(NOW, NOW - skew, 4), Ok(()));
        // Once the window has passed, the nonce is forgotten, and its request
        // refused for its time.
        assert_eq!(nonces.accept(NOW + 2 * skew, NOW + 2 * skew, 5), Ok(()));
        assert_eq!(nonces.remembered(), 1);
        assert_eq!(
            nonces.accept(NOW + 2 * skew, NOW, 1),
            Err(Refusal::OutsideWindow)
        );
    }

    #[test]
    fn memory_is_bounded_and_forgotten_nonces_stay_refused() {
        let mut nonces = Nonces::new(10);
        for i in 0..1000u64 {
            assert_eq!(nonces.accept(NOW + i, NOW + i, u128::from(i)), Ok(()));
            assert!(nonces.remembered() <= 10);
        }
        // Every nonce accepted before is refused, remembered or not.
        for i in 0..1000u64 {
            assert!(nonces.accept(NOW + 1000, NOW + i, u128::from(i)).is_err());
        }
        assert_eq!(nonces.accept(NOW + 1000, NOW + 1000, 5000), Ok(()));
    }
}
