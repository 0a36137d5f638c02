//! Lanes: how many tests of a kind run at once, whatever the number of test
//! threads. With more threads than cores (`--test-threads`,
//! `RUST_TEST_THREADS`), every test starts and waits for its lane instead of
//! for a free thread, so a test waiting for Chromium no longer keeps a Docker
//! test from starting.
//!
//! Lanes of one: Chromium ([`super::browser`]), each Mesos harness
//! ([`super::mesos::turn`]), the test clusters ([`super::cluster::serial`]).
//! A test that needs Chromium and the 3-agent harness at once takes Chromium
//! first: one order, so no two tests wait for each other, and a browser test
//! queued for Chromium holds no harness the Mesos tests could be using
//! meanwhile. (The 200-agent test gives that turn back before it waits for
//! Chromium; it holds only the large harness, which no other test takes.)
//! Lane of two: the tests that load the machine most, Docker containers with
//! an executor and the timing measurements ([`heavy`]). Light tests take no
//! lane.

use tokio::sync::{Semaphore, SemaphorePermit};

static HEAVY: Semaphore = Semaphore::const_new(2);

/// Held for the whole test.
pub async fn heavy() -> SemaphorePermit<'static> {
    HEAVY.acquire().await.expect("never closed")
}
