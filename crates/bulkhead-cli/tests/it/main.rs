//! The integration tests of `bulkhead-cli`, one binary (one link of the
//! crate and its dependencies); each module was a test file of its own.

mod chain;
mod cli;
mod cluster_browser;
mod cluster_cli;
mod cluster_view;
mod common;
mod data_cli;
mod journal_cli;
mod live;
mod split_cli;
