//! Lanes: how many tests of a kind run at once. The test threads are set high
//! (`.cargo/config.toml`), so every test starts at once and waits for its lane
//! instead of for a free thread: a test waiting for Chromium no longer keeps
//! a Docker test from starting.
//!
//! Lanes of one: Chromium ([`super::browser`]), each Mesos harness
//! ([`super::mesos::turn`]), the test clusters ([`super::cluster::serial`]).
//! Lane of two: the tests that load the machine most, Docker containers with
//! an executor and the timing measurements ([`heavy`]). Light tests take no
//! lane.

use tokio::sync::{Semaphore, SemaphorePermit};

use super::{browser, mesos};

static HEAVY: Semaphore = Semaphore::const_new(2);

/// Held for the whole test.
pub async fn heavy() -> SemaphorePermit<'static> {
    HEAVY.acquire().await.expect("never closed")
}

/// The 3-agent harness's turn and Chromium's together, for tests that need
/// both. Neither is held while waiting for the other, so neither lane stands
/// idle behind such a test.
pub async fn mesos_and_browser() -> (mesos::Turn, browser::Turn) {
    loop {
        let turn = mesos::turn().await;
        if let Some(chromium) = browser::try_turn() {
            return (turn, chromium);
        }
        drop(turn);
        let chromium = browser::turn().await;
        if let Some(turn) = mesos::try_turn() {
            return (turn, chromium);
        }
        drop(chromium);
        // Both lanes are busy with other tests: wait for them to move on.
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}
