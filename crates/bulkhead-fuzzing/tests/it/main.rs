//! The integration tests of `bulkhead-fuzzing`, one binary (one link of the
//! crate and its dependencies); each module was a test file of its own.

mod generative;
mod vopr;
