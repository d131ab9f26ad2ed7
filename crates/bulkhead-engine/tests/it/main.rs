//! The integration tests of `bulkhead-engine`, one binary (one link of the
//! crate and its dependencies); each module was a test file of its own.

mod catalogue;
mod containment;
mod containment_support;
mod demo;
mod host_contract;
mod journal_resume;
mod market_data;
mod mmp;
mod records;
mod run_features;
mod scenarios;
mod surveillance;
mod surveillance_catalogue;
mod venues;
