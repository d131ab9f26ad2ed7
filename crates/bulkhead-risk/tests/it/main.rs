//! The integration tests of `bulkhead-risk`, one binary (one link of the
//! crate and its dependencies); each module was a test file of its own.

mod common;
mod controls;
mod controls_ext;
mod corpus;
mod limits;
mod mmp;
mod policy;
mod prop;
mod prop_firm;
mod venue_positions;
