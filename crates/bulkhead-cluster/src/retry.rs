//! Retrying a JetStream call through a leader election: the one retry loop
//! of the crate's request/response calls (mirror push and fetch, feed
//! publish and open, lease bucket reads and writes).
//!
//! **Owns:** what counts as transient (the call timed out, nobody answered,
//! or JetStream said it is temporarily unavailable: what a dead stream or
//! meta leader's server looks like until a new leader is elected), the pause
//! between attempts and the time bound. **Must never:** retry anything else
//! (a refused compare-and-set, a wrong expected sequence, a malformed reply
//! is final and goes back to the caller at once), or retry past the
//! caller's bound. The live mirror's publisher (`replica`) keeps its own
//! loop: it retries until the run ends, not within a bound.

use std::fmt::Display;
use std::future::Future;
use std::time::{Duration, Instant};

/// Pause between attempts of a JetStream call that failed transiently.
pub(crate) const RETRY_PAUSE: Duration = Duration::from_millis(250);

/// A JetStream call failed in a way a leader election explains (the stream's or the meta
/// leader's server died): it timed out, nobody answered, or JetStream said it is
/// temporarily unavailable. Anything else is final.
pub(crate) fn transient(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    t.contains("timed out") || t.contains("no responders") || t.contains("temporarily unavailable")
}

/// Awaits `call()` and, while it fails [`transient`]ly (judged on the error's text) and
/// `within` has not passed since the first attempt, awaits a new `call()` after
/// [`RETRY_PAUSE`]. Returns the first success or the last error, for the caller to name.
pub(crate) async fn retry<T, E: Display, Fut: Future<Output = Result<T, E>>>(
    within: Duration,
    mut call: impl FnMut() -> Fut,
) -> Result<T, E> {
    let start = Instant::now();
    loop {
        match call().await {
            Err(e) if transient(&e.to_string()) && start.elapsed() < within => tokio::time::sleep(RETRY_PAUSE).await,
            done => return done,
        }
    }
}
