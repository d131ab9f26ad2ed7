//! Integration tests of bulkhead-chain: one module per area.

mod policy;
