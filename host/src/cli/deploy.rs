//! `durable deploy` and `durable deployments`: on the database `--db` names, or over `--url`
//! through a running `durable serve` (`POST /deployments`, `GET /deployments`; its API keys
//! required).

use super::instances::Remote;
use super::output;
use super::replay;
use anyhow::{Context as _, bail};
use durable_host::client::{Client, Deployment};
use durable_host::inspect::verify::Selection;
use durable_host::store::Store;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, clap::Args)]
pub struct DeployArgs {
    #[arg(long)]
    component: PathBuf,
    /// First replay the stored histories of the orchestrators it offers against it (every
    /// unfinished instance, and the finished ones created since --since) and print each it
    /// does not replay, with the first divergence.
    #[arg(long)]
    verify: bool,
    /// With --verify: deploy only if every instance replays; else exit 1, changing nothing.
    #[arg(long, requires = "verify")]
    require_compatible: bool,
    /// With --verify: also the finished instances created at or after this time (ms since the
    /// epoch; 0 for all).
    #[arg(long, requires = "verify")]
    since: Option<u64>,
}

/// Deploys to the database through `client`'s store (checking first if asked) and prints the
/// digest.
pub async fn local(client: &Client, args: &DeployArgs) -> anyhow::Result<()> {
    let store = client.store();
    if args.verify {
        let refused = verify(store, &args.component, args.since).await?;
        if args.require_compatible && refused > 0 {
            bail!(
                "not deployed: {refused} instances do not replay against {} \
                 (--require-compatible); nothing was changed",
                args.component.display()
            );
        }
    }
    let record = super::deploy_to(store.clone(), &args.component).await?;
    println!("{}", record.digest);
    Ok(())
}

/// `--verify` on the database: replays the stored histories of the orchestrators the
/// component offers against it, prints those it does not replay and a summary, and returns how
/// many those are.
async fn verify(store: &Arc<dyn Store>, path: &Path, since: Option<u64>) -> anyhow::Result<usize> {
    let bytes = super::read_component(path)?;
    let wasm = Arc::new(replay::offline_runtime()?);
    let component = wasm
        .load(&bytes)
        .await
        .with_context(|| format!("cannot load component {}", path.display()))?;
    let digest = component.digest.clone();
    let selection = Selection {
        orchestrator: None,
        finished_since: since,
    };
    let tally = replay::check_stored(store.clone(), wasm, component, &selection, false).await?;
    println!(
        "{} instances replayed against {digest}: {} compatible, {} incompatible, {} failed to \
         replay, {} not started yet",
        tally.total, tally.compatible, tally.incompatible, tally.failed, tally.not_started
    );
    Ok(tally.refusals())
}

/// Deploys through a running server (`POST /deployments`), printing what its check found as
/// the local one does, then the digest.
pub async fn remote(remote: &Remote, args: &DeployArgs) -> anyhow::Result<()> {
    let bytes = super::read_component(&args.component)?;
    // Asked first without a body: a server that refuses the key answers before reading the
    // component and closes, which the client, still sending megabytes, sees as a broken pipe.
    let asked = remote
        .request(Method::GET, "/deployments")
        .send()
        .await
        .context("cannot reach the server")?;
    if asked.status() == StatusCode::UNAUTHORIZED {
        let text = asked.text().await.unwrap_or_default();
        bail!("{} (HTTP 401)", Remote::message(&text));
    }
    let mut query = Vec::new();
    if args.verify {
        query.push(("verify", "true".to_owned()));
    }
    if args.require_compatible {
        query.push(("requireCompatible", "true".to_owned()));
    }
    if let Some(since) = args.since {
        query.push(("since", since.to_string()));
    }
    let response = remote
        .request(Method::POST, "/deployments")
        .query(&query)
        .header(reqwest::header::CONTENT_TYPE, "application/wasm")
        .body(bytes)
        .send()
        .await
        .context("cannot reach the server")?;
    let status = response.status();
    let text = response.text().await?;
    let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    if let Some(verification) = body.get("verification") {
        print_verification(verification);
    }
    match status {
        StatusCode::CREATED => {
            println!(
                "{}",
                body["deployment"]["digest"].as_str().unwrap_or_default()
            );
            Ok(())
        }
        _ => bail!("{} (HTTP {})", Remote::message(&text), status.as_u16()),
    }
}

/// A server's `verification`, printed as the local check prints it.
fn print_verification(v: &Value) {
    let count = |key: &str| v[key].as_u64().unwrap_or(0);
    let listed = |key: &str| v[key].as_array().cloned().unwrap_or_default();
    let (incompatible, failed) = (listed("incompatible"), listed("failedToReplay"));
    for entry in incompatible.iter().chain(&failed) {
        println!(
            "{} ({}, {}): {}: {}",
            entry["instanceId"].as_str().unwrap_or_default(),
            entry["name"].as_str().unwrap_or_default(),
            entry["runtimeStatus"].as_str().unwrap_or_default(),
            entry["failure"]["type"].as_str().unwrap_or_default(),
            entry["failure"]["message"].as_str().unwrap_or_default()
        );
    }
    println!(
        "{} instances replayed: {} compatible, {} incompatible, {} failed to replay, {} not \
         started yet",
        count("replayed"),
        count("compatible"),
        incompatible.len(),
        failed.len(),
        count("notStarted")
    );
}

/// `durable deployments` over `--url`.
pub async fn list_remote(remote: &Remote, json: bool) -> anyhow::Result<()> {
    let response = remote
        .request(Method::GET, "/deployments")
        .send()
        .await
        .context("cannot reach the server")?;
    let status = response.status();
    let text = response.text().await?;
    if !status.is_success() {
        bail!("{} (HTTP {})", Remote::message(&text), status.as_u16());
    }
    let deployments: Vec<Deployment> =
        serde_json::from_str(&text).with_context(|| format!("the server answered with {text}"))?;
    output::print_deployments(&deployments, json)
}
