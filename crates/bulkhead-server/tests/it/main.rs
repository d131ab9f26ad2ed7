//! The integration tests of `bulkhead-server`, one binary (one link of the
//! crate and its dependencies); each module was a test file of its own.

mod alerts;
mod api;
mod browser;
mod chain;
mod common;
mod deadman;
mod engine_api;
mod limits;
mod openapi_fuzz;
mod tls;
mod tokens;
