//! Integration tests of the CPython backend: real `python3` processes in their jail. The
//! backend-independent behaviour is covered by the workspace's conformance suite
//! (`tests/tests/conformance.rs`); these cover what only this backend has: process lifecycle,
//! isolation measures, resource limits and the framed channel.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod channel;
mod isolation;
mod lifecycle;
mod support;
mod tools;
