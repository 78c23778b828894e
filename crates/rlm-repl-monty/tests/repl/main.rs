//! Integration tests of the Monty backend: every test runs real Python through the interpreter.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod context;
mod finish;
mod host;
mod language;
mod limits;
mod modules;
mod state;
mod strings;
mod support;
mod template;
mod tools;
