//! The integration tests of `bulkhead-model`, one binary (one link of the
//! crate and its dependencies); each module was a test file of its own.

mod black76_reference;
mod detmath_guard;
