//! `durable replay`: run a recorded history (and optionally one new turn) against a component
//! without a database, or run conformance scenarios (`tests/conformance/`) against it.
//!
//! Both go through [`durable_host::inspect`]; this file only reads files and prints.

use anyhow::{Context as _, bail};
use durable_host::host::HostConfig;
use durable_host::inspect::scenario::{self, Scenario};
use durable_host::inspect::{NewTurn, replay_turn};
use durable_host::types::{EventKind, HistoryEvent};
use durable_host::wasm::WasmRuntime;
use durable_host::wasm::sandbox::{ActivityCapabilities, GuestLimits};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// The component (.wasm) to run.
    #[arg(long)]
    component: PathBuf,
    /// Orchestrator name (with --history).
    #[arg(long, required_unless_present = "scenario")]
    orchestrator: Option<String>,
    /// A JSON array of history events (`durable history ID --json`).
    #[arg(
        long,
        required_unless_present = "scenario",
        conflicts_with = "scenario"
    )]
    history: Option<PathBuf>,
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

pub async fn run(args: ReplayArgs) -> anyhow::Result<ExitCode> {
    let wasm = WasmRuntime::new(
        HostConfig::default().compile_cache,
        GuestLimits::default(),
        ActivityCapabilities::default(),
        0,
    )?;
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

    let (Some(orchestrator), Some(history)) = (&args.orchestrator, &args.history) else {
        bail!("give --orchestrator and --history, or --scenario");
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
