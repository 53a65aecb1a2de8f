//! `durable deploy`, `durable deployments` and `durable upgrade`: on the database `--db`
//! names, or over `--url` through a running `durable serve` (`POST /deployments`, `GET
//! /deployments`, `POST /instances/{id}/upgrade`, `POST /instances/upgrade`; its API keys
//! required).

use super::instances::Remote;
use super::output;
use super::replay;
use anyhow::{Context as _, bail};
use durable_host::client::{Client, Collected, Deployment, Retired};
use durable_host::inspect::upgrade::{Instances, Target, Upgrade, UpgradeReport};
use durable_host::inspect::verify::Selection;
use durable_host::store::{Labels, Store};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
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
    /// Once deployed, move every unfinished instance of an orchestrator it offers whose
    /// history replays against it to it (recorded in its history); the others stay on the
    /// component they run on and finish there.
    #[arg(long)]
    upgrade: bool,
    /// Label the deployment with a version: instances started on it run as that version (the
    /// code reads it with `ctx.version()`), and `durable start --version` can ask for it.
    #[arg(long)]
    version: Option<String>,
    /// The app the deployment belongs to: its activities (and its orchestrators' `call_http`
    /// requests) run with what the grants file gives that app (`[apps.NAME]`) besides what
    /// every app gets. Redeploying without it keeps the app it had.
    #[arg(long)]
    app: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct UpgradeArgs {
    /// The instances to move.
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    ids: Vec<String>,
    /// Every unfinished instance.
    #[arg(long)]
    all: bool,
    /// Move to this deployment (its digest, or a prefix naming one deployment); default: the
    /// newest deployment offering each instance's orchestrator.
    #[arg(long)]
    to: Option<String>,
    /// Print JSON (as `POST /instances/upgrade` answers).
    #[arg(long)]
    json: bool,
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
    let host = super::offline_host(store.clone())?;
    let labels = Labels {
        version: args.version.as_deref(),
        app: args.app.as_deref(),
    };
    let record = super::deploy_labelled(&host, &args.component, labels).await?;
    println!("{}", record.digest);
    if args.upgrade {
        let target = Target::Deployment(&record.digest);
        let done = host.upgrade(Instances::AllUnfinished, target).await?;
        print_upgrades(&reports(&done), false)?;
    }
    Ok(())
}

/// `durable upgrade` on the database; exit 1 when an instance named did not end on the
/// target.
pub async fn upgrade_local(store: Arc<dyn Store>, args: &UpgradeArgs) -> anyhow::Result<ExitCode> {
    let host = super::offline_host(store)?;
    let done = host.upgrade(instances(args), target(args)).await?;
    let reports = reports(&done);
    print_upgrades(&reports, args.json)?;
    Ok(exit_code(args, &reports))
}

/// `durable upgrade` over `--url`.
pub async fn upgrade_remote(remote: &Remote, args: &UpgradeArgs) -> anyhow::Result<ExitCode> {
    let mut query = Vec::new();
    if let Some(to) = &args.to {
        query.push(("to", to.clone()));
    }
    let mut reports = Vec::new();
    let paths: Vec<String> = match args.all {
        true => vec!["/instances/upgrade".to_owned()],
        false => args
            .ids
            .iter()
            .map(|id| format!("/instances/{}/upgrade", super::instances::segment(id)))
            .collect(),
    };
    for path in paths {
        let (status, text, body) =
            answer(remote.request(Method::POST, &path).query(&query)).await?;
        match (status, body.get("outcome"), body.get("instances")) {
            (StatusCode::OK | StatusCode::CONFLICT, Some(_), _) => reports.push(body),
            (StatusCode::OK, None, Some(Value::Array(listed))) => reports.extend(listed.clone()),
            _ => bail!("{} (HTTP {})", Remote::message(&text), status.as_u16()),
        }
    }
    print_upgrades(&reports, args.json)?;
    Ok(exit_code(args, &reports))
}

/// `durable retire DIGEST` on the database or over `--url` (`POST /deployments/{digest}/retire`).
pub async fn retire(target: Either<'_>, digest: &str) -> anyhow::Result<()> {
    let retired: Retired = match target {
        Either::Local(client) => client.retire(digest).await?,
        Either::Remote(remote) => {
            let path = format!("/deployments/{}/retire", super::instances::segment(digest));
            remote_json(remote.request(Method::POST, &path)).await?
        }
    };
    println!(
        "retired {}: it takes no new instances; the {} unfinished instances pinned to it \
         finish on it",
        retired.digest, retired.pinned_instances
    );
    if !retired.no_longer_offered.is_empty() {
        println!(
            "no deployment offers {} any more: starting it fails until one is deployed (or \
             this one again)",
            retired.no_longer_offered.join(", ")
        );
    }
    Ok(())
}

/// `durable gc` on the database or over `--url` (`POST /deployments/gc`).
pub async fn gc(target: Either<'_>, dry_run: bool, grace_secs: u64) -> anyhow::Result<()> {
    let collected: Collected = match target {
        Either::Local(client) => {
            client
                .collect(dry_run, std::time::Duration::from_secs(grace_secs))
                .await?
        }
        Either::Remote(remote) => {
            let query = [
                ("dryRun", dry_run.to_string()),
                ("grace", grace_secs.to_string()),
            ];
            remote_json(
                remote
                    .request(Method::POST, "/deployments/gc")
                    .query(&query),
            )
            .await?
        }
    };
    let verb = if dry_run { "would delete" } else { "deleted" };
    for digest in &collected.deleted {
        println!("{verb} {digest}");
    }
    println!(
        "{} components {verb}; {} retired components kept (an unfinished or failed instance or \
         a queued activity needs them, or they were retired less than {grace_secs} s ago); \
         deployments not retired are never deleted",
        collected.deleted.len(),
        collected.kept
    );
    Ok(())
}

/// Where a command acts: on the database through a client, or through a running server.
pub enum Either<'a> {
    Local(&'a Client),
    Remote(&'a Remote),
}

/// Sends `request` and decodes a successful answer's JSON.
async fn remote_json<T: serde::de::DeserializeOwned>(
    request: reqwest::RequestBuilder,
) -> anyhow::Result<T> {
    let (status, text, _) = answer(request).await?;
    if !status.is_success() {
        bail!("{} (HTTP {})", Remote::message(&text), status.as_u16());
    }
    serde_json::from_str(&text).with_context(|| format!("the server answered with {text}"))
}

/// Sends `request` and returns the status, the body and the body as JSON (`null` if it is
/// not).
async fn answer(request: reqwest::RequestBuilder) -> anyhow::Result<(StatusCode, String, Value)> {
    let response = request.send().await.context("cannot reach the server")?;
    let status = response.status();
    let text = response.text().await?;
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Ok((status, text, body))
}

fn instances(args: &UpgradeArgs) -> Instances {
    match args.all {
        true => Instances::AllUnfinished,
        false => Instances::Ids(args.ids.clone()),
    }
}

fn target(args: &UpgradeArgs) -> Target<'_> {
    args.to
        .as_deref()
        .map_or(Target::Newest, Target::Deployment)
}

fn reports(done: &[(String, Upgrade)]) -> Vec<Value> {
    done.iter()
        .map(|(id, outcome)| json!(UpgradeReport::new(id, outcome)))
        .collect()
}

/// Named instances must all end on the target; `--all` moves what it can.
fn exit_code(args: &UpgradeArgs, reports: &[Value]) -> ExitCode {
    let arrived = |r: &Value| matches!(r["outcome"].as_str(), Some("moved" | "alreadyThere"));
    match args.all || reports.iter().all(arrived) {
        true => ExitCode::SUCCESS,
        false => ExitCode::FAILURE,
    }
}

/// One line per instance and a count of each outcome, or the JSON list.
fn print_upgrades(reports: &[Value], json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(reports)?);
        return Ok(());
    }
    let count = |outcome: &str| {
        reports
            .iter()
            .filter(|r| r["outcome"].as_str() == Some(outcome))
            .count()
    };
    for report in reports {
        println!(
            "{}: {}",
            report["instanceId"].as_str().unwrap_or_default(),
            report["message"].as_str().unwrap_or_default()
        );
    }
    println!(
        "{} moved, {} stay on their component, {} already there, {} busy",
        count("moved"),
        count("stays"),
        count("alreadyThere"),
        count("busy")
    );
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
    if args.upgrade {
        query.push(("upgrade", "true".to_owned()));
    }
    if let Some(version) = &args.version {
        query.push(("version", version.clone()));
    }
    if let Some(app) = &args.app {
        query.push(("app", app.clone()));
    }
    let request = remote
        .request(Method::POST, "/deployments")
        .query(&query)
        .header(reqwest::header::CONTENT_TYPE, "application/wasm")
        .body(bytes);
    let (status, text, body) = answer(request).await?;
    if let Some(verification) = body.get("verification") {
        print_verification(verification);
    }
    match status {
        StatusCode::CREATED => {
            println!(
                "{}",
                body["deployment"]["digest"].as_str().unwrap_or_default()
            );
            if let Some(Value::Array(moved)) = body.pointer("/upgrade/instances") {
                print_upgrades(moved, false)?;
            }
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
