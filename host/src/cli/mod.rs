//! The `durable` CLI: argument definitions and the commands behind them.
//!
//! Every command opens the SQLite database named by `--db` (or
//! `DURABLE_DB`). Commands that run guest code (`run`, `serve`, `replay`,
//! `bench`) build a [`Host`]; the others use a [`Client`] only, so they work
//! against a database a `durable serve` in another process is serving.

mod bench;
mod build;
mod entity;
mod http;
mod output;
mod remote;
mod replay;

use anyhow::{Context as _, bail};
use clap::{Args, Parser, Subcommand};
use durable_host::client::{Client, StartRequest};
use durable_host::clock::{Clock, SystemClock};
use durable_host::host::{Host, HostConfig};
use durable_host::store::{Durability, InstanceFilter, SqliteStore, Store};
use durable_host::types::RuntimeStatus;
use durable_host::wasm::sandbox::{ActivityCapabilities, GuestLimits};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(
    name = "durable",
    version,
    about = "Durable functions for WebAssembly components"
)]
pub struct Cli {
    /// The SQLite database file holding instances, history and components.
    #[arg(long, global = true, env = "DURABLE_DB", default_value = "durable.db")]
    db: PathBuf,

    /// Act on a running `durable serve` through its HTTP API instead of
    /// opening the database (start, status, wait, history, raise-event,
    /// terminate, suspend, resume, rewind, restart, purge, list).
    #[arg(long, global = true, env = "DURABLE_URL")]
    url: Option<String>,

    /// API key for `--url` when the server requires one.
    #[arg(
        long = "key",
        global = true,
        env = "DURABLE_API_KEY",
        hide_env_values = true
    )]
    key: Option<String>,

    /// Log more (`-v` info, `-vv` debug); `RUST_LOG` overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Deploy a component, start an orchestration, wait for it and print its output.
    Run {
        /// The component (.wasm) offering the orchestrator.
        #[arg(long)]
        component: PathBuf,
        /// Orchestrator name; may be left out when the component offers one.
        #[arg(long)]
        orchestrator: Option<String>,
        /// Input as JSON.
        #[arg(long, default_value = "null")]
        input: String,
        /// Instance id (default: a new unique id).
        #[arg(long)]
        id: Option<String>,
        /// Give up waiting after this many seconds.
        #[arg(long, default_value_t = 300)]
        timeout: u64,
        #[command(flatten)]
        host: HostArgs,
    },
    /// Run the engine: dispatch orchestrations, activities and timers until Ctrl-C.
    Serve {
        /// Components to deploy before serving (repeatable).
        #[arg(long)]
        component: Vec<PathBuf>,
        #[command(flatten)]
        host: HostArgs,
        #[command(flatten)]
        http: http::HttpArgs,
    },
    /// Store a component as the newest deployment for its orchestrators.
    Deploy {
        #[arg(long)]
        component: PathBuf,
    },
    /// Start an orchestration and print its instance id.
    Start {
        /// Orchestrator name.
        orchestrator: String,
        /// Input as JSON.
        #[arg(long, default_value = "null")]
        input: String,
        /// Instance id (default: a new unique id).
        #[arg(long)]
        id: Option<String>,
    },
    /// Show an instance's status as JSON.
    Status { id: String },
    /// Wait for an instance to finish, then show its status.
    Wait {
        id: String,
        #[arg(long, default_value_t = 300)]
        timeout: u64,
    },
    /// Show an instance's history.
    History {
        id: String,
        /// Print the events as a JSON array (the format `replay` reads).
        #[arg(long)]
        json: bool,
    },
    /// Show the log lines an instance's code recorded.
    Logs { id: String },
    /// Send an external event to a running instance.
    RaiseEvent {
        id: String,
        /// Event name.
        name: String,
        /// Event data as JSON.
        #[arg(long, default_value = "null")]
        data: String,
    },
    /// Terminate a running instance.
    Terminate {
        id: String,
        #[arg(long)]
        reason: Option<String>,
        /// Also terminate its unfinished sub-orchestrations.
        #[arg(long)]
        recursive: bool,
    },
    /// Suspend a running instance; events that arrive meanwhile are kept.
    Suspend {
        id: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Resume a suspended instance.
    Resume {
        id: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Rewind a failed instance: its failed activities run again.
    Rewind {
        id: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Start a finished instance again with the same input; prints the id.
    Restart {
        id: String,
        /// Start it under a new id instead of reusing this one.
        #[arg(long)]
        new_id: bool,
    },
    /// Delete finished instances and their history: one by id, or all that
    /// match the filters.
    Purge {
        /// The instance to delete.
        id: Option<String>,
        /// Only these statuses (comma separated; finished ones only).
        #[arg(long, value_delimiter = ',')]
        status: Vec<String>,
        /// Only instances created at or after this time (ms since the epoch).
        #[arg(long)]
        created_from: Option<u64>,
        /// Only instances created at or before this time (ms since the epoch).
        #[arg(long)]
        created_to: Option<u64>,
        /// Only ids starting with this.
        #[arg(long)]
        prefix: Option<String>,
    },
    /// List instances.
    List {
        /// Only these statuses (comma separated, e.g. Running,Failed).
        #[arg(long, value_delimiter = ',')]
        status: Vec<String>,
        /// Only ids starting with this.
        #[arg(long)]
        prefix: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Signal, read and list durable entities.
    #[command(subcommand)]
    Entity(entity::EntityCommand),
    /// Replay a recorded history (and optionally one new turn) against a
    /// component and print what it decides, or run conformance scenarios.
    Replay(replay::ReplayArgs),
    /// Measure throughput and replay cost (see README, Performance).
    Bench(bench::BenchArgs),
    /// Build an app directory into a component: `app.py` (Python), `app.js`
    /// (JavaScript) or a `Cargo.toml` (Rust).
    Build(build::BuildArgs),
}

/// Settings of the engine for commands that run one.
#[derive(Debug, Clone, Args)]
pub struct HostArgs {
    /// Orchestration turns run at once.
    #[arg(long, default_value_t = 64)]
    orchestration_concurrency: usize,
    /// Activities run at once.
    #[arg(long, default_value_t = 64)]
    activity_concurrency: usize,
    /// CPU time (ms) one orchestrator step may use.
    #[arg(long, default_value_t = 2000)]
    step_cpu_ms: u64,
    /// Memory (MiB) one orchestrator instance may use.
    #[arg(long, default_value_t = 64)]
    orchestrator_memory_mb: usize,
    /// Memory (MiB) one activity run may use.
    #[arg(long, default_value_t = 512)]
    activity_memory_mb: usize,
    /// Seconds an activity may run before it fails with ActivityTimeout.
    #[arg(long, default_value_t = 300)]
    activity_timeout: u64,
    /// Give activities a host directory: HOST_PATH::GUEST_PATH (repeatable).
    #[arg(long = "dir", value_name = "HOST::GUEST")]
    dirs: Vec<String>,
    /// Give activities an environment variable: KEY=VALUE (repeatable).
    #[arg(long = "env", value_name = "KEY=VALUE")]
    env: Vec<String>,
    /// Let activities open network connections.
    #[arg(long)]
    allow_network: bool,
    /// Let `call_http` reach this host (`host`, `host:port` or `*`; repeatable).
    #[arg(long = "allow-http", value_name = "HOST")]
    http_hosts: Vec<String>,
    /// Pass activity stdout/stderr through.
    #[arg(long)]
    activity_stdio: bool,
    /// Commit durability.
    #[arg(long, value_enum, default_value_t = Durability::Full)]
    durability: Durability,
    /// How often (ms) to look for work written by other processes.
    #[arg(long, default_value_t = 200)]
    poll_ms: u64,
    /// Seconds a host holds an orchestration during a turn; a crashed host's
    /// turn is taken over after this.
    #[arg(long, default_value_t = 60)]
    orchestration_lease: u64,
    /// Live orchestrator instances kept in memory.
    #[arg(long, default_value_t = 2048)]
    cache_capacity: usize,
    /// Do not cache compiled components on disk.
    #[arg(long)]
    no_compile_cache: bool,
}

impl HostArgs {
    fn config(&self) -> anyhow::Result<HostConfig> {
        let mut capabilities = ActivityCapabilities {
            network: self.allow_network,
            inherit_stdio: self.activity_stdio,
            http_hosts: self.http_hosts.clone(),
            ..Default::default()
        };
        for dir in &self.dirs {
            let (host, guest) = dir
                .split_once("::")
                .with_context(|| format!("--dir `{dir}` must look like HOST_PATH::GUEST_PATH"))?;
            capabilities
                .dirs
                .push((PathBuf::from(host), guest.to_owned()));
        }
        for pair in &self.env {
            let (k, v) = pair
                .split_once('=')
                .with_context(|| format!("--env `{pair}` must look like KEY=VALUE"))?;
            capabilities.env.push((k.to_owned(), v.to_owned()));
        }
        let defaults = HostConfig::default();
        Ok(HostConfig {
            orchestration_concurrency: self.orchestration_concurrency.max(1),
            activity_concurrency: self.activity_concurrency.max(1),
            poll_interval: Duration::from_millis(self.poll_ms.max(1)),
            orchestration_lease: Duration::from_secs(self.orchestration_lease.max(1)),
            cache_capacity: self.cache_capacity,
            compile_cache: if self.no_compile_cache {
                None
            } else {
                defaults.compile_cache.clone()
            },
            limits: GuestLimits {
                step_cpu: Duration::from_millis(self.step_cpu_ms.max(1)),
                orchestrator_memory: self.orchestrator_memory_mb << 20,
                activity_memory: self.activity_memory_mb << 20,
                activity_timeout: Duration::from_secs(self.activity_timeout.max(1)),
            },
            capabilities,
            ..defaults
        })
    }
}

pub fn init_tracing(cli: &Cli) {
    let default = match (cli.verbose, &cli.command) {
        (0, Command::Serve { .. }) => "info",
        (0, _) => "warn",
        (1, _) => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn open_store(db: &std::path::Path, durability: Durability) -> anyhow::Result<Arc<dyn Store>> {
    let store = SqliteStore::open(db, durability)
        .with_context(|| format!("cannot open the database {}", db.display()))?;
    Ok(Arc::new(store))
}

fn read_component(path: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read component {}", path.display()))
}

async fn deploy(host: &Host, path: &std::path::Path) -> anyhow::Result<()> {
    let bytes = read_component(path)?;
    let record = host
        .deploy(&bytes)
        .await
        .with_context(|| format!("cannot load component {}", path.display()))?;
    tracing::info!(
        digest = %record.digest,
        orchestrators = ?record.catalogue.orchestrators,
        activities = ?record.catalogue.activities,
        "deployed {}",
        path.display()
    );
    Ok(())
}

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    // `build` works on files only: neither the database nor `--url`.
    if let Some(url) = &cli.url
        && !matches!(cli.command, Command::Build(_))
    {
        let remote = remote::Remote::new(url, cli.key.clone())?;
        return match remote::run(&remote, cli.command).await? {
            Some(code) => Ok(code),
            None => bail!(
                "this command works on the database, not over --url; run it where the \
                 database is (start, status, wait, history, raise-event, terminate, suspend, \
                 resume, rewind, restart, purge and list work over --url)"
            ),
        };
    }
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    match cli.command {
        Command::Run {
            component,
            orchestrator,
            input,
            id,
            timeout,
            host,
        } => {
            let config = host.config()?;
            let store = open_store(&cli.db, host.durability)?;
            let host = Host::new(store, clock, config)?;
            let bytes = read_component(&component)?;
            let record = host
                .deploy(&bytes)
                .await
                .with_context(|| format!("cannot load component {}", component.display()))?;
            let orchestrator = match orchestrator {
                Some(name) => name,
                None => match record.catalogue.orchestrators.as_slice() {
                    [only] => only.clone(),
                    [] => bail!("{} offers no orchestrators", component.display()),
                    many => bail!(
                        "{} offers several orchestrators ({}); choose one with --orchestrator",
                        component.display(),
                        many.join(", ")
                    ),
                },
            };
            let mut request = StartRequest::new(&orchestrator).input(input);
            request.instance_id = id;
            let id = host.client().start(request).await?;
            let running = host.start();
            let waited = host.client().wait(&id, Duration::from_secs(timeout)).await;
            running.shutdown().await;
            let record = waited?;
            output::print_outcome(&record)
        }
        Command::Serve {
            component,
            host,
            http,
        } => {
            let config = host.config()?;
            let store = open_store(&cli.db, host.durability)?;
            let host = Host::new(store, clock, config)?;
            for path in &component {
                deploy(&host, path).await?;
            }
            let api = http.start(host.client().clone()).await?;
            let running = host.start();
            tracing::info!(db = %cli.db.display(), "serving; Ctrl-C to stop");
            shutdown_signal().await;
            tracing::info!("stopping: finishing work in flight");
            if let Some(api) = api {
                api.shutdown().await;
            }
            running.shutdown().await;
            Ok(ExitCode::SUCCESS)
        }
        Command::Deploy { component } => {
            let store = open_store(&cli.db, Durability::Full)?;
            let host = Host::new(store, clock, HostConfig::default())?;
            deploy(&host, &component).await?;
            let components = host.client().store().components().await?;
            if let Some(newest) = components.first() {
                println!("{}", newest.digest);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Start {
            orchestrator,
            input,
            id,
        } => {
            let client = Client::new(open_store(&cli.db, Durability::Full)?, clock);
            let mut request = StartRequest::new(orchestrator).input(input);
            request.instance_id = id;
            println!("{}", client.start(request).await?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Status { id } => {
            let client = Client::new(open_store(&cli.db, Durability::Full)?, clock);
            output::print_status(&client.status(&id).await?)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Wait { id, timeout } => {
            let client = Client::new(open_store(&cli.db, Durability::Full)?, clock);
            let record = client.wait(&id, Duration::from_secs(timeout)).await?;
            output::print_status(&record)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::History { id, json } => {
            let client = Client::new(open_store(&cli.db, Durability::Full)?, clock);
            let history = client.history(&id).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&history)?);
            } else {
                output::print_history(&history);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Logs { id } => {
            let client = Client::new(open_store(&cli.db, Durability::Full)?, clock);
            for line in client.logs(&id).await? {
                println!(
                    "{} {:5} {}",
                    output::format_time(line.timestamp),
                    line.level.to_uppercase(),
                    line.message
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::RaiseEvent { id, name, data } => {
            let client = Client::new(open_store(&cli.db, Durability::Full)?, clock);
            client.raise_event(&id, &name, &data).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Terminate {
            id,
            reason,
            recursive,
        } => {
            let client = Client::new(open_store(&cli.db, Durability::Full)?, clock);
            client.terminate(&id, reason.as_deref(), recursive).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Suspend { id, reason } => {
            let client = Client::new(open_store(&cli.db, Durability::Full)?, clock);
            client.suspend(&id, reason.as_deref()).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Resume { id, reason } => {
            let client = Client::new(open_store(&cli.db, Durability::Full)?, clock);
            client.resume(&id, reason.as_deref()).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Rewind { id, reason } => {
            let client = Client::new(open_store(&cli.db, Durability::Full)?, clock);
            client.rewind(&id, reason.as_deref()).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Restart { id, new_id } => {
            let client = Client::new(open_store(&cli.db, Durability::Full)?, clock);
            println!("{}", client.restart(&id, new_id).await?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Purge {
            id,
            status,
            created_from,
            created_to,
            prefix,
        } => {
            let client = Client::new(open_store(&cli.db, Durability::Full)?, clock);
            let filtered = !status.is_empty()
                || created_from.is_some()
                || created_to.is_some()
                || prefix.is_some();
            let deleted = match (id, filtered) {
                (Some(_), true) => bail!("give an instance id or filters, not both"),
                (Some(id), false) => {
                    client.purge(&id).await?;
                    1
                }
                (None, false) => bail!(
                    "give an instance id, or filters (--status, --created-from, --created-to, \
                     --prefix) to purge many"
                ),
                (None, true) => {
                    let filter = InstanceFilter {
                        statuses: parse_statuses(&status)?,
                        created_from,
                        created_to,
                        id_prefix: prefix,
                        limit: None,
                        after: None,
                    };
                    client.purge_matching(&filter).await?
                }
            };
            println!("{deleted} instances deleted");
            Ok(ExitCode::SUCCESS)
        }
        Command::List {
            status,
            prefix,
            limit,
        } => {
            let client = Client::new(open_store(&cli.db, Durability::Full)?, clock);
            let filter = InstanceFilter {
                statuses: parse_statuses(&status)?,
                id_prefix: prefix,
                limit: Some(limit),
                ..Default::default()
            };
            output::print_list(&client.list(&filter).await?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Entity(command) => {
            let client = Client::new(open_store(&cli.db, Durability::Full)?, clock);
            entity::run(&client, command).await
        }
        Command::Replay(args) => replay::run(args).await,
        Command::Bench(args) => bench::run(args).await,
        Command::Build(args) => build::run(args),
    }
}

/// Parses `--status` values, naming the valid ones on a mistake.
fn parse_statuses(names: &[String]) -> anyhow::Result<Vec<RuntimeStatus>> {
    names
        .iter()
        .map(|name| {
            RuntimeStatus::parse(name.trim()).with_context(|| {
                format!(
                    "unknown status `{name}`; use one of {}",
                    RuntimeStatus::ALL.map(|s| s.as_str()).join(", ")
                )
            })
        })
        .collect()
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
