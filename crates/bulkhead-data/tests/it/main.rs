//! Integration tests of `bulkhead-data` (one binary).

mod catalogue;
