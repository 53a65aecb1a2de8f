//! Embedding the engine in a Rust program: no separate process, no CLI.
//!
//! `cargo run -p embedding -- path/to/hello_sequence.wasm [DB]` opens (or
//! creates) the database `DB` (default `embedded.db`; a PostgreSQL URL works
//! too), deploys the component, runs the dispatcher in this process, starts
//! `hello_sequence`, waits for it and prints its status and output, then shuts
//! down cleanly (work in flight finishes first).

use durable_host::client::StartRequest;
use durable_host::host::Host;
use std::time::Duration;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let component = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "target/wasm/wasm32-wasip2/release/hello_sequence.wasm".to_owned());
    let db = std::env::args()
        .nth(2)
        .unwrap_or_else(|| "embedded.db".to_owned());

    let host = Host::connect(&db).await?;
    host.deploy(&std::fs::read(&component)?).await?;
    let running = host.start();

    let client = host.client();
    let id = client.start(StartRequest::new("hello_sequence")).await?;
    let done = client.wait(&id, Duration::from_secs(60)).await?;
    println!("{id}: {}", done.status);
    println!("{}", done.output.unwrap_or_default());

    running.shutdown().await;
    Ok(())
}
