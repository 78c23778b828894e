//! Helpers for the end-to-end tests in `tests/tests/`. The request classifier lives in
//! `rlm_testkit::conversation` (shared with the benchmark harness and the demo server); it is
//! re-exported here for the tests.

pub use rlm_testkit::conversation::{Call, classify, classify_http, classify_pairs, repl};
