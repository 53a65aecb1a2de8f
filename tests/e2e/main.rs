//! End-to-end tests: real guest components (built from `examples/` and
//! `tests/guests/`) in a real host on real SQLite files, or on PostgreSQL databases with
//! `DURABLE_E2E_BACKEND=postgres` ([`backend`]). One test binary (each links wasmtime); one
//! module per concern.

mod backend;
mod process;
mod support;

mod bad_input;
mod bench;
mod chaos;
mod cli;
mod conformance;
mod crash;
mod dashboard;
mod df_apps;
mod df_clients;
mod dispatch;
mod durable_http;
mod entities;
mod examples;
mod grants;
mod http;
mod management;
mod nondeterminism;
mod observe;
mod orchestration;
mod outbound;
mod polyglot;
mod properties;
mod sandbox;
mod traces;
mod transfer;
mod versions;
