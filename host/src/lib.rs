//! durable: durable functions for WebAssembly components.
//!
//! Data flows like this: a client ([`host::Host`] methods, the CLI) creates
//! an instance in the [`store`], which enqueues its `ExecutionStarted`
//! message. The dispatcher ([`host`]) locks instances with visible messages,
//! feeds the new events to a live guest orchestrator ([`wasm`]) — replaying
//! the whole history into a fresh one when none is cached — checks the
//! actions it decides against history ([`replay`]), and commits the turn's
//! history, activity tasks, timers and status in one transaction. Activity
//! workers lock tasks, run them with the capabilities granted, and deliver
//! their results back to the instance's inbox. Time comes from a [`clock`].
//! A function one component calls by name in another is found by [`resolve`].
//! [`inspect`] runs one turn of a component against a given history without
//! storage (`durable replay` and the conformance scenarios).

pub mod builtin_http;
pub mod client;
pub mod clock;
pub mod guest_sources;
pub mod host;
pub mod http;
pub mod inspect;
pub mod replay;
pub mod resolve;
pub mod store;
pub mod types;
pub mod wasm;
