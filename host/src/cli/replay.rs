//! `durable replay`: run a recorded history (and optionally one new turn) against a component
//! without a database, run conformance scenarios (`tests/conformance/`) against it, or replay
//! the histories stored in a database against it (`--db`, neither `--history` nor
//! `--scenario`), the check a pipeline runs before a deploy.
//!
//! All go through [`durable_host::inspect`]; this file only reads, schedules and prints.

use super::progress::Progress;
use anyhow::{Context as _, bail};
use durable_host::host::HostConfig;
use durable_host::inspect::scenario::{self, Scenario};
use durable_host::inspect::verify::{Selection, Verdict, check_instances, instances_to_check};
use durable_host::inspect::{NewTurn, replay_turn};
use durable_host::store::{Durability, Store};
use durable_host::types::{EventKind, HistoryEvent};
use durable_host::wasm::LoadedComponent;
use durable_host::wasm::WasmRuntime;
use durable_host::wasm::sandbox::GuestLimits;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// The component (.wasm) to run.
    #[arg(long)]
    component: PathBuf,
    /// Orchestrator name: needed with --history; without, only this orchestrator's stored
    /// instances are replayed.
    #[arg(long)]
    orchestrator: Option<String>,
    /// A JSON array of history events (`durable history ID --json`). Without it (and without
    /// --scenario), the histories stored in the database (--db) are replayed: every unfinished
    /// instance of an orchestrator the component offers.
    #[arg(long, conflicts_with = "scenario")]
    history: Option<PathBuf>,
    /// Replaying stored histories: also the finished instances created at or after this time
    /// (ms since the epoch; 0 for all).
    #[arg(long, conflicts_with_all = ["history", "scenario"])]
    since: Option<u64>,
    /// A JSON array of events (history-event form; ids and timestamps ignored) fed as one new
    /// turn after the history.
    #[arg(long, requires = "history")]
    new_events: Option<PathBuf>,
    /// Time of the new turn, ms since the epoch (default: the last history timestamp, or the
    /// latest fired timer among the new events).
    #[arg(long, requires = "new_events")]
    at: Option<u64>,
    /// A conformance scenario file, or a directory of them: prints PASS/FAIL and a diff.
    #[arg(long)]
    scenario: Option<PathBuf>,
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path, what: &str) -> anyhow::Result<T> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not {what}", path.display()))
}

/// A runtime for replays outside a host: the default guest limits, no capabilities.
pub fn offline_runtime() -> anyhow::Result<WasmRuntime> {
    WasmRuntime::new(
        HostConfig::default().compile_cache,
        GuestLimits::default(),
        0,
    )
}

pub async fn run(args: ReplayArgs, db: &Path) -> anyhow::Result<ExitCode> {
    let wasm = offline_runtime()?;
    let bytes = std::fs::read(&args.component)
        .with_context(|| format!("cannot read component {}", args.component.display()))?;
    let component = wasm
        .load(&bytes)
        .await
        .with_context(|| format!("cannot load component {}", args.component.display()))?;

    if let Some(path) = &args.scenario {
        let mut failed = 0;
        let files = Scenario::files(path)?;
        if files.is_empty() {
            bail!("{} holds no .json scenarios", path.display());
        }
        for file in &files {
            let scenario = Scenario::load(file)?;
            let result = scenario::run(&wasm, &component, &scenario).await?;
            if !result.passed() {
                failed += 1;
            }
            println!("{result}");
        }
        if files.len() > 1 {
            println!("{} passed, {failed} failed", files.len() - failed);
        }
        return Ok(if failed == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }

    let Some(history) = &args.history else {
        return stored(Arc::new(wasm), component, &args, db).await;
    };
    let Some(orchestrator) = &args.orchestrator else {
        bail!("--history needs --orchestrator: the orchestrator that recorded it");
    };
    let history: Vec<HistoryEvent> = read_json(history, "a list of history events")?;
    let new_turn = match &args.new_events {
        None => None,
        Some(path) => {
            let events: Vec<EventKind> = read_json(path, "a list of events")?;
            let fired = events.iter().filter_map(|e| match e {
                EventKind::TimerFired { fire_at, .. } => Some(*fire_at),
                _ => None,
            });
            let last = history.iter().map(|e| e.timestamp).chain(fired).max();
            Some(NewTurn {
                at: args.at.or(last).unwrap_or(0),
                events,
            })
        }
    };
    let report = replay_turn(&wasm, &component, orchestrator, &history, new_turn).await?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    if let Some(failure) = report.failure.as_ref().filter(|_| report.is_host_failure()) {
        eprintln!("replay failed: {failure}");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// Replays the histories stored in `db` against `component`, several at a time, and stops at
/// the first the code does not agree with: exit 1, with the instance and the divergence.
async fn stored(
    wasm: Arc<WasmRuntime>,
    component: Arc<LoadedComponent>,
    args: &ReplayArgs,
    db: &Path,
) -> anyhow::Result<ExitCode> {
    if let Some(name) = &args.orchestrator
        && !component.catalogue.orchestrators.contains(name)
    {
        bail!(
            "{} does not offer the orchestrator `{name}` (it offers: {})",
            args.component.display(),
            component.catalogue.orchestrators.join(", ")
        );
    }
    if super::postgres_url(db).is_none() && !db.exists() {
        bail!("there is no database at {}", db.display());
    }
    let store = super::open_store(db, Durability::Full).await?;
    let selection = Selection {
        orchestrator: args.orchestrator.clone(),
        finished_since: args.since,
    };
    let digest = component.digest.clone();
    let tally = check_stored(store, wasm, component, &selection, true).await?;
    if tally.refusals() > 0 {
        println!(
            "the component {digest} does not replay this history ({} of {} instances checked)",
            tally.checked(),
            tally.total
        );
        return Ok(ExitCode::FAILURE);
    }
    let which = match args.since {
        Some(_) => "unfinished and recently finished",
        None => "unfinished",
    };
    println!(
        "{} {which} instances replayed against {digest}: {} compatible, {} not started yet",
        tally.total, tally.compatible, tally.not_started
    );
    Ok(ExitCode::SUCCESS)
}

/// What a check of stored histories found.
#[derive(Debug, Default)]
pub struct Tally {
    /// The instances chosen.
    pub total: usize,
    pub compatible: usize,
    pub not_started: usize,
    pub incompatible: usize,
    /// Failed to replay for another reason than a divergence (a trap, a limit).
    pub failed: usize,
}

impl Tally {
    /// Instances the component cannot take.
    pub fn refusals(&self) -> usize {
        self.incompatible + self.failed
    }

    fn checked(&self) -> usize {
        self.compatible + self.not_started + self.refusals()
    }
}

/// Replays the instances `selection` chooses in `store` against `component`, several at once,
/// with a progress line, and prints a line for each it does not replay (the instance and the
/// first divergence or the failure); stops at the first such with `stop_at_first`.
pub async fn check_stored(
    store: Arc<dyn Store>,
    wasm: Arc<WasmRuntime>,
    component: Arc<LoadedComponent>,
    selection: &Selection,
    stop_at_first: bool,
) -> anyhow::Result<Tally> {
    let instances = instances_to_check(&*store, &component.catalogue, selection).await?;
    let mut tally = Tally {
        total: instances.len(),
        ..Tally::default()
    };
    let parallel = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut progress = Progress::new("replaying", None);
    check_instances(
        store,
        wasm,
        component,
        instances,
        parallel,
        |instance, verdict| {
            let failure = match verdict {
                Verdict::Compatible => {
                    tally.compatible += 1;
                    None
                }
                Verdict::NotStarted => {
                    tally.not_started += 1;
                    None
                }
                Verdict::Incompatible(failure) => {
                    tally.incompatible += 1;
                    Some(failure)
                }
                Verdict::Failed(failure) => {
                    tally.failed += 1;
                    Some(failure)
                }
            };
            if let Some(failure) = failure {
                progress.finish();
                println!(
                    "{} ({}, {}): {}: {}",
                    instance.instance_id,
                    instance.name,
                    instance.status.as_str(),
                    failure.error_type,
                    failure.message
                );
                if stop_at_first {
                    return ControlFlow::Break(());
                }
            }
            progress.count(tally.checked() as u64, tally.total as u64, "instances");
            ControlFlow::Continue(())
        },
    )
    .await?;
    progress.finish();
    Ok(tally)
}
