//! The `durable` CLI: argument definitions and the commands behind them.
//!
//! Every command opens the database named by `--db` (or `DURABLE_DB`): a SQLite file, or a
//! PostgreSQL database given by its URL (`postgres://...`). Commands that run guest code (`run`, `serve`, `replay`,
//! `bench`) build a [`Host`]; the others use a [`Client`] only, so they work
//! against a database a `durable serve` in another process is serving.

mod bench;
mod build;
mod deploy;
mod entity;
mod http;
mod instances;
mod output;
mod progress;
mod replay;
mod transfer;

use anyhow::{Context as _, bail};
use clap::{Args, Parser, Subcommand};
use durable_host::client::{Client, StartRequest};
use durable_host::clock::{Clock, SystemClock};
use durable_host::engine::EngineError;
use durable_host::grants::{ActivityCapabilities, ActivityConfig, FileGrants};
use durable_host::host::{DEFAULT_INSTANCE_IDLE_SECS, Host, HostConfig};
use durable_host::store::{ComponentRecord, Durability, Labels, Migration, SqliteStore, Store};
use durable_host::telemetry;
use durable_host::wasm::sandbox::GuestLimits;
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
    /// The database holding instances, history and components: a SQLite file, or a
    /// PostgreSQL URL (`postgres://user@host:5432/database`).
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

    /// How log lines are written to stderr: `text` for people, `json` (one object per line,
    /// with the instance id as a field) for log shippers.
    #[arg(long, global = true, env = "DURABLE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,

    /// Export traces (a span per orchestration, turn, activity attempt and entity batch) to
    /// this OpenTelemetry collector over OTLP/HTTP, e.g. `http://localhost:4318`.
    #[arg(long, global = true, env = "OTEL_EXPORTER_OTLP_ENDPOINT")]
    otlp_endpoint: Option<String>,

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
        /// The app the component belongs to (its activities' grants, see `--grants`).
        #[arg(long)]
        app: Option<String>,
        #[command(flatten)]
        host: HostArgs,
    },
    /// Run the engine: dispatch orchestrations, activities and timers until Ctrl-C.
    Serve {
        /// Components to deploy before serving (repeatable): PATH, or APP=PATH to deploy it as
        /// the app APP (its activities' grants, see `--grants`).
        #[arg(long, value_name = "[APP=]PATH")]
        component: Vec<String>,
        #[command(flatten)]
        host: HostArgs,
        #[command(flatten)]
        http: http::HttpArgs,
    },
    /// Store a component as the newest deployment for its orchestrators (on the database, or
    /// over --url through a running server), checking it against the stored histories first
    /// with --verify.
    Deploy(deploy::DeployArgs),
    /// List the deployments: each stored component, what it offers, the names it is the
    /// newest offer of, and the unfinished instances pinned to it.
    Deployments {
        /// Print JSON (as `GET /deployments` does).
        #[arg(long)]
        json: bool,
    },
    /// Move unfinished instances to newer code: each one whose history replays against the
    /// target (the newest deployment offering its orchestrator, or --to) moves, recorded in its
    /// history; the others stay on the component they run on. Exit 1 when an instance named
    /// did not move.
    Upgrade(deploy::UpgradeArgs),
    /// Retire a deployment (its digest, or a prefix naming one): it takes no new instances and
    /// no calls from other components; the instances pinned to it finish on it. Deploying it
    /// again brings it back.
    Retire { digest: String },
    /// Delete the retired deployments nothing needs any more: no unfinished or failed instance
    /// is pinned to them and no activity task is queued on them.
    Gc {
        /// Print what would be deleted; delete nothing.
        #[arg(long)]
        dry_run: bool,
        /// Only deployments retired at least this many seconds ago (a start that chose one
        /// just before it was retired has long been written by then).
        #[arg(long, default_value_t = 60)]
        grace: u64,
    },
    /// Bring the database's schema up to this build's version and print what was done.
    /// Every command migrates the database it opens; this does only that.
    Migrate,
    #[command(flatten)]
    Instance(instances::InstanceCommand),
    /// Show the log lines an instance's code recorded.
    Logs { id: String },
    /// Signal, read and list durable entities.
    #[command(subcommand)]
    Entity(entity::EntityCommand),
    /// Replay a recorded history (and optionally one new turn) against a
    /// component and print what it decides, run conformance scenarios, or check
    /// the histories stored in the database against a component (exit 1 at the
    /// first it does not replay).
    Replay(replay::ReplayArgs),
    /// Measure throughput and replay cost (docs/benchmarks.md).
    Bench(bench::BenchArgs),
    /// Build an app directory into a component: `app.py` (Python), `app.js`
    /// (JavaScript) or a `Cargo.toml` (Rust).
    Build(build::BuildArgs),
    /// Write everything the database holds (components, instances, histories, messages,
    /// timers, activity tasks, logs, entities) to a file, from one snapshot, for `import`.
    Export(transfer::ExportArgs),
    /// Copy an `export` file into an empty database, SQLite or PostgreSQL, in one transaction:
    /// a file cut short or altered writes nothing.
    Import(transfer::ImportArgs),
}

/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Lines for people.
    Text,
    /// One JSON object per line: `timestamp`, `level`, `target`, `fields` (the message and
    /// fields such as `instance`).
    Json,
}

/// `--durability`: how hard a commit tries to reach the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DurabilityArg {
    /// Work is fsync'd before it is answered: survives power loss.
    Full,
    /// Survives a process crash, may lose the last commits on power loss.
    Normal,
}

impl From<DurabilityArg> for Durability {
    fn from(arg: DurabilityArg) -> Durability {
        match arg {
            DurabilityArg::Full => Durability::Full,
            DurabilityArg::Normal => Durability::Normal,
        }
    }
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
    /// Memory (MiB) the activities running at once may use together: a run waits until the
    /// size its component's activity instance last had fits (a Python one about 13 MiB, a Rust
    /// one about 1).
    #[arg(long, default_value_t = 1024)]
    activities_memory_mb: usize,
    /// Memory (KiB) a free guest instance slot keeps of the pages its last instance wrote, so
    /// the next instance of the component does not fault them in again (0: none; at most
    /// 4194304, a 32-bit memory's 4 GiB; the gauge durable_pool_free_slots_resident_bytes
    /// shows the total).
    #[arg(long, default_value_t = 2048, value_parser = clap::value_parser!(u64).range(0..=4 << 20))]
    free_slot_memory_kib: u64,
    /// Seconds an activity may run before it fails with ActivityTimeout.
    #[arg(long, default_value_t = 300)]
    activity_timeout: u64,
    /// Give activities a host directory: HOST_PATH::GUEST_PATH (repeatable).
    #[arg(long = "dir", value_name = "HOST::GUEST")]
    dirs: Vec<String>,
    /// Give activities an environment variable: KEY=VALUE (repeatable).
    #[arg(long = "env", value_name = "KEY=VALUE")]
    env: Vec<String>,
    /// Let activities open TCP and UDP sockets, to the hosts `--allow-http` names (`*` for
    /// every address).
    #[arg(long)]
    allow_network: bool,
    /// Let activities reach this host: over HTTP, through `wasi:http` and `call_http`, and
    /// with sockets if `--allow-network` (`host`, `*.domain`, either with `:port`, or `*`;
    /// repeatable).
    #[arg(long = "allow-http", value_name = "HOST")]
    http_hosts: Vec<String>,
    /// Give activities a configuration value or secret, read through `wasi:config/store`:
    /// KEY=VALUE, or KEY alone to take the value of the host's environment variable KEY
    /// (repeatable). Never stored or logged.
    #[arg(long = "config", value_name = "KEY[=VALUE]")]
    config: Vec<String>,
    /// Read activities' configuration values from a file of KEY=VALUE lines (`#` comments);
    /// `--config` wins over it.
    #[arg(long, value_name = "FILE")]
    config_file: Option<PathBuf>,
    /// Read per-app grants from this TOML file: `[apps.NAME]` sections giving the
    /// deployments of app NAME (`deploy --app`) hosts, sockets, directories, environment and
    /// config values besides what the flags give every app (`[apps."*"]`: every app too).
    #[arg(long, value_name = "FILE")]
    grants: Option<PathBuf>,
    /// Trust this CA certificate (PEM file) for activities' HTTPS requests, besides the
    /// system's roots (repeatable).
    #[arg(long = "ca-cert", value_name = "FILE")]
    ca_certs: Vec<PathBuf>,
    /// Pass activity stdout/stderr through.
    #[arg(long)]
    activity_stdio: bool,
    /// Commit durability.
    #[arg(long, value_enum, default_value_t = DurabilityArg::Full)]
    durability: DurabilityArg,
    /// How often (ms) to look for work written by other processes, in case a wake-up was
    /// missed, and, when longer than 500 ms, for hosts that are gone. Default 200 on SQLite;
    /// 2000 on PostgreSQL, where hosts hear each other's commits (LISTEN/NOTIFY) and an idle
    /// host should cost the server little.
    #[arg(long)]
    poll_ms: Option<u64>,
    /// Seconds a host holds an orchestration during a turn; a crashed host's
    /// turn is taken over after this.
    #[arg(long, default_value_t = 60)]
    orchestration_lease: u64,
    /// Seconds a host holds an activity task, renewed while it runs; a host that stalls
    /// (alive, but not renewing) loses the task after this. A host whose process is gone
    /// loses its work at once, whatever the leases.
    #[arg(long, default_value_t = 30)]
    activity_lease: u64,
    /// Live orchestrator instances kept in memory.
    #[arg(long, default_value_t = 2048)]
    cache_capacity: usize,
    /// Linear memory (MiB) the live orchestrator instances kept in memory may hold together:
    /// past it the least recently used are dropped (a Python instance holds about 13 MiB, a
    /// Rust one about 1).
    #[arg(long, default_value_t = 4096)]
    cache_memory_mb: usize,
    /// Seconds a cached live orchestrator or a warm activity instance may stay unused before
    /// it is dropped and its memory given back (0: kept until room is needed). An
    /// orchestration whose instance was dropped replays its history at its next turn.
    #[arg(long, default_value_t = DEFAULT_INSTANCE_IDLE_SECS)]
    instance_idle_secs: u64,
    /// Guest instances alive at once (default: the cache capacity plus both concurrencies
    /// plus 64). Each reserves address space for its memory limit; when all are taken, work
    /// waits for one.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    instance_slots: Option<u32>,
    /// The largest payload in MiB (input, output, event data, entity state, custom status).
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..))]
    max_payload_mb: u64,
    /// Do not cache compiled components on disk.
    #[arg(long)]
    no_compile_cache: bool,
}

impl HostArgs {
    /// The `--config-file` values, then the `--config` ones (a later key wins).
    fn config_values(&self) -> anyhow::Result<Vec<(String, String)>> {
        let mut values = Vec::new();
        if let Some(file) = &self.config_file {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("cannot read --config-file {}", file.display()))?;
            for (n, line) in (1..).zip(text.lines()) {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                let (key, value) = line
                    .split_once('=')
                    .with_context(|| format!("{} line {n} is not KEY=VALUE", file.display()))?;
                values.push((key.trim().to_owned(), value.trim().to_owned()));
            }
        }
        for item in &self.config {
            values.push(match item.split_once('=') {
                Some((key, value)) => (key.to_owned(), value.to_owned()),
                None => {
                    let value = std::env::var(item).with_context(|| {
                        format!("--config {item}: the environment variable {item} is not set")
                    })?;
                    (item.clone(), value)
                }
            });
        }
        Ok(values)
    }

    /// The engine's settings for the database `db`.
    fn config(&self, db: &std::path::Path) -> anyhow::Result<HostConfig> {
        let default_poll = if postgres_url(db).is_some() {
            2_000
        } else {
            200
        };
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
        capabilities.config = ActivityConfig::new(self.config_values()?);
        for file in &self.ca_certs {
            let pem = std::fs::read(file)
                .with_context(|| format!("cannot read --ca-cert {}", file.display()))?;
            durable_host::outbound::certificates(&pem)
                .with_context(|| format!("--ca-cert {}", file.display()))?;
            capabilities.ca_certs.push(pem);
        }
        let mut app_grants = std::collections::BTreeMap::new();
        if let Some(file) = &self.grants {
            let read = FileGrants::read(file)?;
            // The command line wins over the file.
            capabilities = read.every_app.and(&capabilities);
            app_grants = read.apps;
        }
        let defaults = HostConfig::default();
        Ok(HostConfig {
            orchestration_concurrency: self.orchestration_concurrency.max(1),
            activity_concurrency: self.activity_concurrency.max(1),
            poll_interval: Duration::from_millis(self.poll_ms.unwrap_or(default_poll).max(1)),
            orchestration_lease: Duration::from_secs(self.orchestration_lease.max(1)),
            activity_lease: Duration::from_secs(self.activity_lease.max(1)),
            cache_capacity: self.cache_capacity,
            cache_memory: self.cache_memory_mb << 20,
            instance_idle: Duration::from_secs(self.instance_idle_secs),
            instance_slots: self.instance_slots,
            max_payload: usize::try_from(self.max_payload_mb << 20).unwrap_or(usize::MAX),
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
                activities_memory: self.activities_memory_mb << 20,
                free_slot_memory: (self.free_slot_memory_kib as usize) << 10,
            },
            capabilities,
            app_grants,
            ..defaults
        })
    }
}

impl Cli {
    /// Whether the command only reads and prints (or writes to the database), running no
    /// host, server, build or benchmark.
    pub fn only_prints(&self) -> bool {
        !matches!(
            self.command,
            Command::Run { .. } | Command::Serve { .. } | Command::Bench(_) | Command::Build(_)
        )
    }
}

/// Lets the process end as Unix tools do when what reads its output goes away (`durable list
/// | head`): by SIGPIPE's default action. Rust programs ignore SIGPIPE, so the next print
/// panicked with "failed printing to stdout: Broken pipe". Only for [`Cli::only_prints`]: a
/// host keeps running whatever a pipe or a child process does.
#[allow(unsafe_code)] // reason: libc::signal, to SIG_DFL before any other thread exists
pub fn end_on_a_closed_stdout() {
    // SAFETY: sets a signal's disposition to its default action; no handler of ours runs.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Sets up the log output and, with `--otlp-endpoint`, the trace exporter; the guard sends
/// the buffered spans when dropped.
pub fn init_tracing(cli: &Cli) -> anyhow::Result<Option<telemetry::Guard>> {
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let default = match (cli.verbose, &cli.command) {
        (0, Command::Serve { .. }) => "info",
        (0, _) => "warn",
        (1, _) => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default))
        // The spans traces are made of are not log lines.
        .add_directive(format!("{}=off", telemetry::TARGET).parse()?);
    let logs = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let logs = match cli.log_format {
        LogFormat::Text => logs.boxed(),
        LogFormat::Json => logs.json().boxed(),
    };
    let (guard, traces) = match &cli.otlp_endpoint {
        Some(endpoint) => {
            let (guard, layer) = telemetry::install(endpoint)?;
            (Some(guard), Some(layer))
        }
        None => (None, None),
    };
    tracing_subscriber::registry()
        .with(logs.with_filter(filter))
        .with(traces)
        .init();
    Ok(guard)
}

/// The PostgreSQL URL `--db` names, if it names one rather than a SQLite file.
fn postgres_url(db: &std::path::Path) -> Option<&str> {
    db.to_str()
        .filter(|db| durable_host::store::is_postgres_url(db))
}

/// The database `--db` names, for logs: a file's path; never a URL, which may hold a password.
fn describe_db(db: &std::path::Path) -> String {
    match postgres_url(db) {
        Some(_) => "PostgreSQL".to_owned(),
        None => db.display().to_string(),
    }
}

/// Opens the database `--db` names. `durability` is SQLite's setting; PostgreSQL's server
/// decides its own.
async fn open_store(
    db: &std::path::Path,
    durability: Durability,
) -> anyhow::Result<Arc<dyn Store>> {
    let store = match postgres_url(db) {
        // The error names the server (never the password) and why it refused.
        Some(url) => durable_host::store::open(url, durability).await?,
        None => SqliteStore::open(db, durability)
            .map(|store| Arc::new(store) as Arc<dyn Store>)
            .with_context(|| format!("cannot open the database {}", db.display()))?,
    };
    log_migration(db, &*store);
    Ok(store)
}

/// Says when opening `db` migrated its schema.
fn log_migration(db: &std::path::Path, store: &dyn Store) {
    let Migration { from, to } = store.migration();
    if from != 0 && from != to {
        tracing::info!(
            "migrated the schema of {} from version {from} to {to}",
            describe_db(db)
        );
    }
}

fn read_component(path: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read component {}", path.display()))
}

/// A `--component [APP=]PATH`: the app, if named, and the path. A path holding `=` is read
/// as one when no app name comes before it (`./a=b.wasm`) or when the whole is a file.
fn component_arg(arg: &str) -> (Option<&str>, &std::path::Path) {
    match arg.split_once('=') {
        Some((app, path))
            if durable_host::grants::check_app_name(app).is_ok()
                && !std::path::Path::new(arg).is_file() =>
        {
            (Some(app), std::path::Path::new(path))
        }
        _ => (None, std::path::Path::new(arg)),
    }
}

/// Deploys the component file `path` with `labels`.
async fn deploy_labelled(
    host: &Host,
    path: &std::path::Path,
    labels: Labels<'_>,
) -> anyhow::Result<ComponentRecord> {
    let bytes = read_component(path)?;
    let record = match host.deploy_labelled(&bytes, labels).await {
        Err(EngineError::InvalidApp(message)) => bail!("{message}"),
        deployed => {
            deployed.with_context(|| format!("cannot load component {}", path.display()))?
        }
    };
    tracing::info!(
        digest = %record.digest,
        app = record.app.as_deref().unwrap_or_default(),
        orchestrators = ?record.catalogue.orchestrators,
        activities = ?record.catalogue.activities,
        "deployed {}",
        path.display()
    );
    Ok(record)
}

/// A host on `store` that is not started: for the commands that deploy, check and move
/// instances on the database without serving it.
fn offline_host(store: Arc<dyn Store>) -> anyhow::Result<Host> {
    Ok(Host::new(
        store,
        Arc::new(SystemClock),
        HostConfig::default(),
    )?)
}

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    // `build` works on files only: neither the database nor `--url`.
    if let Some(url) = &cli.url
        && !matches!(cli.command, Command::Build(_))
    {
        let remote = instances::Remote::new(url, cli.key.clone())?;
        match cli.command {
            Command::Deploy(args) => deploy::remote(&remote, &args).await?,
            Command::Upgrade(args) => return deploy::upgrade_remote(&remote, &args).await,
            Command::Retire { digest } => {
                deploy::retire(deploy::Either::Remote(&remote), &digest).await?
            }
            Command::Gc { dry_run, grace } => {
                deploy::gc(deploy::Either::Remote(&remote), dry_run, grace).await?
            }
            Command::Deployments { json } => deploy::list_remote(&remote, json).await?,
            Command::Instance(command) => instances::run(&remote, command).await?,
            _ => bail!(
                "this command works on the database, not over --url; run it where the \
                 database is (start, status, wait, history, raise-event, terminate, suspend, \
                 resume, rewind, restart, purge, list, deploy, deployments, upgrade, \
                 retire and gc work over --url)"
            ),
        }
        return Ok(ExitCode::SUCCESS);
    }
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let client = async || -> anyhow::Result<Client> {
        let store = open_store(&cli.db, Durability::Full).await?;
        Ok(Client::new(store, clock.clone()))
    };
    match cli.command {
        Command::Run {
            component,
            orchestrator,
            input,
            id,
            timeout,
            app,
            host,
        } => {
            let config = host.config(&cli.db)?;
            let store = open_store(&cli.db, host.durability.into()).await?;
            let host = Host::new(store, clock, config)?;
            let labels = Labels {
                app: app.as_deref(),
                ..Labels::default()
            };
            let record = deploy_labelled(&host, &component, labels).await?;
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
            // Metrics are recorded from the start (GET /metrics renders them).
            durable_host::metrics::exporter();
            let config = host.config(&cli.db)?;
            let store = open_store(&cli.db, host.durability.into()).await?;
            let host = Host::new(store, clock, config)?;
            for component in &component {
                let (app, path) = component_arg(component);
                let labels = Labels {
                    app,
                    ..Labels::default()
                };
                deploy_labelled(&host, path, labels).await?;
            }
            let api = http
                .start(host.client().clone(), Arc::new(host.clone()))
                .await?;
            let running = host.start();
            tracing::info!(db = %describe_db(&cli.db), "serving; Ctrl-C to stop");
            shutdown_signal().await;
            tracing::info!("stopping: finishing work in flight");
            if let Some(api) = api {
                api.shutdown().await;
            }
            running.shutdown().await;
            Ok(ExitCode::SUCCESS)
        }
        Command::Deploy(args) => {
            deploy::local(&client().await?, &args).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Retire { digest } => {
            let client = client().await?;
            deploy::retire(deploy::Either::Local(&client), &digest).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Gc { dry_run, grace } => {
            let client = client().await?;
            deploy::gc(deploy::Either::Local(&client), dry_run, grace).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Upgrade(args) => {
            let store = open_store(&cli.db, Durability::Full).await?;
            deploy::upgrade_local(store, &args).await
        }
        Command::Deployments { json } => {
            let deployments = client().await?.deployments().await?;
            output::print_deployments(&deployments, json)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Migrate => {
            let store = open_store(&cli.db, Durability::Full).await?;
            let Migration { from, to } = store.migration();
            match from {
                0 => println!("created a new database at schema version {to}"),
                _ if from == to => println!("the database is at schema version {to}, the newest"),
                _ => println!("migrated the database from schema version {from} to {to}"),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Logs { id } => {
            for line in client().await?.logs(&id).await? {
                println!(
                    "{} {:5} {}",
                    output::format_time(line.timestamp),
                    line.level.to_uppercase(),
                    line.message
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Entity(command) => entity::run(&client().await?, command).await,
        Command::Replay(args) => replay::run(args, &cli.db).await,
        Command::Bench(args) => bench::run(args, &cli.db).await,
        Command::Build(args) => build::run(args),
        Command::Export(args) => {
            if postgres_url(&cli.db).is_none() && !cli.db.exists() {
                bail!("there is no database at {}", cli.db.display());
            }
            transfer::export(open_store(&cli.db, Durability::Full).await?, args).await
        }
        Command::Import(args) => {
            transfer::import(open_store(&cli.db, Durability::Full).await?, args).await
        }
        Command::Instance(command) => {
            instances::run(&instances::Local(client().await?), command).await?;
            Ok(ExitCode::SUCCESS)
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn host_args(args: &[&str]) -> HostArgs {
        let cli = Cli::try_parse_from(["durable", "serve"].iter().chain(args)).expect("parses");
        match cli.command {
            Command::Serve { host, .. } => host,
            _ => unreachable!("serve"),
        }
    }

    /// `--config-file` lines, then `--config` (a later key wins); `--config KEY` alone takes
    /// the host's environment variable; a malformed line names its file and line.
    #[test]
    fn config_values_come_from_the_file_the_flags_and_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("secrets.env");
        std::fs::write(&file, "# payments\napi_key = from-file\n\nregion=eu\n").unwrap();
        let file = file.to_str().unwrap();
        let path = std::env::var("PATH").expect("PATH is set");
        let args = host_args(&[
            "--config-file",
            file,
            "--config",
            "api_key=flag",
            "--config",
            "PATH",
        ]);
        let values = args.config_values().unwrap();
        assert_eq!(
            values,
            [
                ("api_key".to_owned(), "from-file".to_owned()),
                ("region".to_owned(), "eu".to_owned()),
                ("api_key".to_owned(), "flag".to_owned()),
                ("PATH".to_owned(), path),
            ]
        );
        let config = ActivityConfig::new(values);
        let shown = format!("{config:?}");
        assert!(
            shown.contains("api_key") && !shown.contains("flag"),
            "{shown}"
        );

        std::fs::write(dir.path().join("bad.env"), "ok=1\nnot a pair\n").unwrap();
        let bad = dir.path().join("bad.env");
        let err = host_args(&["--config-file", bad.to_str().unwrap()])
            .config_values()
            .unwrap_err();
        assert!(err.to_string().contains("line 2 is not KEY=VALUE"), "{err}");
        let err = host_args(&["--config", "DURABLE_SURELY_UNSET_VARIABLE"])
            .config_values()
            .unwrap_err();
        assert!(err.to_string().contains("is not set"), "{err}");
    }
}
