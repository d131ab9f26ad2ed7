//! The integration tests of `bulkhead-sandbox`, one binary (one link of the
//! crate and its dependencies); each module was a test file of its own.

mod cache_trust;
mod hardening;
mod sandbox;
