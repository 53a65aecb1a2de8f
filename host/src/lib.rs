//! durable: durable functions for WebAssembly components.
//!
//! Data flows like this: a client ([`client`], the HTTP API in [`http`], the CLI) creates
//! an instance in the [`store`], which enqueues its `ExecutionStarted` message. The
//! [`engine`]'s orchestration loop locks instances with visible messages and runs a turn:
//! it loads the live guest orchestrator ([`wasm`]) from its cache, or replays the stored
//! history into a fresh one; sorts the messages and feeds the new events to the guest;
//! checks the actions it decides against history ([`replay`]) and plans the commit
//! ([`plan`]); and commits the turn's history, activity tasks, timers and status in one
//! transaction. Activity workers lock tasks, run them with the capabilities granted, and
//! deliver their results back to the instance's inbox; entity batches run the same way.
//! Time comes from a [`clock`]. A function one component calls by name in another is found
//! by [`resolve`]. [`host`] is the embedding API; [`inspect`] runs one turn of a component
//! against a given history without storage (`durable replay`, the conformance scenarios).
//!
//! The layers: [`types`], [`replay`], [`plan`] and [`resolve`] are pure (no wasmtime, no
//! SQL); [`wasm`] runs guests; [`store`] persists; [`engine`] ties them together; [`host`],
//! [`client`], [`http`] and [`inspect`] are the ways in; [`dashboard`] is the web page the HTTP
//! server shows, and [`metrics`] what the engine, stores and runtime count for `/metrics`.

#![deny(missing_docs)]

pub mod builtin_http;
pub mod client;
pub mod clock;
pub mod dashboard;
pub mod engine;
pub mod grants;
pub mod guest_sources;
pub mod host;
pub mod http;
pub mod inspect;
pub mod metrics;
pub mod outbound;
pub mod plan;
pub mod replay;
pub mod resolve;
pub mod store;
pub mod telemetry;
pub mod types;
pub mod wasm;
