//! `durable bench`: throughput and replay cost, measured end to end.
//!
//! Five scenarios, all but (d) each on a fresh database: a SQLite file
//! with the chosen durability, or, when `--db` names a PostgreSQL server, a
//! database created on it for the scenario and dropped after it:
//! (a) N orchestrations that each chain 5 activities, started concurrently,
//!     with one host or several (`--hosts`: this process and `durable serve`
//!     processes on the same database);
//! (b) one orchestration fanning out to 1,000 activities;
//! (c) cold replay of a 10,000-event history (read from the store and fed to
//!     a fresh guest as it is read, as the engine does) versus feeding one new
//!     event to a cached live guest;
//! (d) per component: loading it (cold compile, warm from the disk cache),
//!     instantiating a live orchestration, and the memory one cached live
//!     instance holds.
//! (e) the front door ([`front_door`]): chains started and awaited through the HTTP API of a
//!     `durable serve` process by concurrent clients, one at a time for latency and many at
//!     once for throughput, so the figures include the API and the client.
//! (a) and (d) run against the Rust bench guest and, when given, its Python
//! and JavaScript builds (the same orchestrators), so the languages compare
//! side by side. It prints rates, latency percentiles, peak memory, the
//! replay ratio and, on PostgreSQL, the server's commits and WAL flushes per
//! orchestration.

mod front_door;

use super::DurabilityArg;
use durable_host::client::StartRequest;
use durable_host::clock::{Clock, SystemClock};
use durable_host::engine::{ColdReplayError, Execution, cold_replay_chunks};
use durable_host::host::{Host, HostConfig};
use durable_host::plan::turn::{Locked, base_commit};
use durable_host::store::{
    Durability, InstanceFilter, NewInstance, ScratchDatabase, SqliteStore, Store, postgres_client,
};
use durable_host::types::{EventKind, HistoryEvent, RuntimeStatus};
use durable_host::wasm::WasmRuntime;
use durable_host::wasm::sandbox::GuestLimits;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// The bench guest component (built from tests/guests/bench).
    #[arg(
        long,
        default_value = "target/wasm/wasm32-wasip2/release/bench_guest.wasm"
    )]
    component: PathBuf,
    /// The Python build of the bench guest (tests/guests/python-bench):
    /// scenarios (a) and (d) run against it too.
    #[arg(long)]
    python_component: Option<PathBuf>,
    /// The JavaScript build of the bench guest (tests/guests/js-bench):
    /// scenarios (a) and (d) run against it too.
    #[arg(long)]
    js_component: Option<PathBuf>,
    /// Chaining orchestrations in scenario (a).
    #[arg(long, default_value_t = 2000)]
    chains: u32,
    /// Chaining orchestrations in scenario (a) for the Python and JavaScript
    /// components (whose guests run an interpreter, so are slower). As many as
    /// Rust's by default: with a few hundred, every orchestrator starts in a pool
    /// slot never used before, which is a host's first minutes, not its steady
    /// state (docs/benchmarks.md).
    #[arg(long, default_value_t = 2000)]
    interpreted_chains: u32,
    /// Live orchestrations instantiated one by one in scenario (d) (the
    /// median is reported).
    #[arg(long, default_value_t = 200)]
    instantiations: u32,
    /// Live orchestrations held at once in scenario (d) to measure the
    /// memory of one.
    #[arg(long, default_value_t = 100)]
    held_instances: u32,
    /// Activities per chain.
    #[arg(long, default_value_t = 5)]
    chain_length: u32,
    /// Activities in the fan-out of scenario (b).
    #[arg(long, default_value_t = 1000)]
    fan_out: u32,
    /// Events in the history of scenario (c).
    #[arg(long, default_value_t = 10_000)]
    history: u32,
    /// Commit durability.
    #[arg(long, value_enum, default_value_t = DurabilityArg::Full)]
    durability: DurabilityArg,
    /// Orchestration turns and activities run at once.
    #[arg(long, default_value_t = 256)]
    concurrency: usize,
    /// Allocate guest instances on demand instead of from a pool.
    #[arg(long)]
    no_pooling: bool,
    /// Run scenario (a) with each of these numbers of hosts (comma separated): this
    /// process and `durable serve` processes on the same database.
    #[arg(long, value_delimiter = ',', default_value = "1", value_parser = clap::value_parser!(u32).range(1..=16))]
    hosts: Vec<u32>,
    /// Chains each run of scenario (e) starts through the HTTP API.
    #[arg(long, default_value_t = 500)]
    http_chains: u32,
    /// Run scenario (e) with each of these numbers of concurrent HTTP clients (comma
    /// separated; each client starts a chain, waits for its output, then starts the next).
    #[arg(long, value_delimiter = ',', default_value = "1,32", value_parser = clap::value_parser!(u32).range(1..=1024))]
    http_clients: Vec<u32>,
    /// Run only these scenarios (a, b, c, d, e; comma separated).
    #[arg(long, value_delimiter = ',', default_value = "a,b,c,d,e")]
    only: Vec<String>,
}

fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Resident memory of the process and its anonymous (private) part, in
/// bytes, from /proc/self/status.
fn rss_bytes() -> Option<(u64, u64)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib * 1024)
    };
    Some((field("VmRSS:")?, field("RssAnon:")?))
}

/// A counter of this process's metrics (`name{labels}` as Prometheus renders it), 0 before
/// its first increment.
fn metric(series: &str) -> i64 {
    metric_in(&durable_host::metrics::exporter().render(), series)
}

/// The value of `series` in a Prometheus exposition `text` (0 when absent).
fn metric_in(text: &str, series: &str) -> i64 {
    let line = format!("{series} ");
    (text.lines())
        .find_map(|l| l.strip_prefix(&line))
        .and_then(|n| n.trim().parse::<f64>().ok())
        .map_or(0, |n| n as i64)
}

/// SQLite's group commits and those of them that were synced, in a Prometheus `text`.
fn sqlite_commits(text: &str) -> (i64, i64) {
    let commits = metric_in(text, "durable_store_commits_total{backend=\"sqlite\"}");
    let unsynced = metric_in(
        text,
        "durable_store_commits_unsynced_total{backend=\"sqlite\"}",
    );
    (commits, commits - unsynced)
}

/// Guests this process instantiated afresh for orchestrators and for activities.
fn instantiations() -> [i64; 2] {
    ["orchestrator", "activity"].map(|kind| {
        metric(&format!(
            "durable_guest_instantiations_total{{kind=\"{kind}\"}}"
        ))
    })
}

/// Hands the heap's freed memory back to the system, so a scenario's memory figures are not
/// the earlier scenarios' leftovers (glibc's malloc keeps freed pages in its arenas).
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[allow(unsafe_code)] // reason: malloc_trim takes no pointers and only releases free pages
    // SAFETY: malloc_trim is thread-safe and touches only memory malloc owns and holds free.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Runs `work`, sampling the process's anonymous memory every 20 ms: its output, and the most
/// anonymous memory seen, in bytes. The heap's freed memory is released first, so the figure
/// is not what setting up (compiling a component, earlier scenarios) freed but malloc kept.
/// A component's copy-on-write memory image is the same pages
/// mapped once per live instance, which RSS counts once per instance (200 cached Python
/// instances: 9 MiB of RSS each but 1.7 MiB of their own); the anonymous pages are the
/// process's own, each counted once. (The proportional set size would count the images once
/// too, but reading it walks every page table: 30-40 ms of a core at 2 GiB of RSS.)
async fn with_peak_anonymous<T>(work: impl Future<Output = T>) -> (T, u64) {
    release_freed_memory();
    let anonymous = || rss_bytes().map_or(0, |(_, anonymous)| anonymous);
    let mut peak = anonymous();
    let mut look = tokio::time::interval(Duration::from_millis(20));
    tokio::pin!(work);
    loop {
        tokio::select! {
            output = &mut work => return (output, peak.max(anonymous())),
            _ = look.tick() => peak = peak.max(anonymous()),
        }
    }
}

fn mib(bytes: f64) -> f64 {
    bytes / f64::from(1u32 << 20)
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// One build of the bench guest.
struct Guest {
    /// The guest's language: `rust`, `python` or `js`.
    language: &'static str,
    bytes: Vec<u8>,
}

fn read_guest(language: &'static str, path: &std::path::Path) -> anyhow::Result<Guest> {
    let bytes = std::fs::read(path).map_err(|e| {
        anyhow::anyhow!(
            "cannot read the {language} bench component {}: {e} (build it with scripts/bench.sh)",
            path.display()
        )
    })?;
    Ok(Guest { language, bytes })
}

struct Bench {
    args: BenchArgs,
    /// The Rust bench guest first, then the Python and JavaScript builds given.
    guests: Vec<Guest>,
    dir: tempfile::TempDir,
    /// The PostgreSQL server the scenarios run on (`--db`); SQLite files when `None`.
    postgres: Option<String>,
}

/// One scenario's fresh database.
struct BenchDb {
    /// What `durable --db` takes: the SQLite file's path or the database's URL.
    arg: String,
    store: Arc<dyn Store>,
    postgres: Option<ScratchDatabase>,
}

impl BenchDb {
    /// The server's counts for this database: transactions committed, and WAL flushes to
    /// disk (server-wide); on SQLite, this process's group commits and those of them that
    /// were synced (`durable_store_commits_total`, less `..._unsynced_total`).
    async fn counters(&self) -> Option<(i64, i64)> {
        let Some(database) = self.postgres.as_ref() else {
            return Some(sqlite_commits(&durable_host::metrics::exporter().render()));
        };
        let client = postgres_client(database.server()).await.ok()?;
        let commits = client
            .query_one(
                "SELECT xact_commit FROM pg_stat_database WHERE datname = $1",
                &[&database.name()],
            )
            .await
            .ok()?
            .try_get(0)
            .ok()?;
        let flushes = client
            .query_one("SELECT wal_sync FROM pg_stat_wal", &[])
            .await
            .ok()?
            .try_get(0)
            .ok()?;
        Some((commits, flushes))
    }

    /// `, C commits and F fsyncs per orchestration` for `n` orchestrations between two
    /// readings of [`BenchDb::counters`] (empty without the second).
    fn per_orchestration(&self, before: (i64, i64), after: Option<(i64, i64)>, n: u32) -> String {
        let Some(after) = after else {
            return String::new();
        };
        let synced = if self.postgres.is_some() {
            "WAL flushes"
        } else {
            "fsyncs"
        };
        format!(
            ", {:.2} commits and {:.2} {synced} per orchestration",
            (after.0 - before.0) as f64 / f64::from(n),
            (after.1 - before.1) as f64 / f64::from(n)
        )
    }

    /// Drops the PostgreSQL database (the SQLite file goes with the bench's directory).
    async fn finish(self) -> anyhow::Result<()> {
        drop(self.store);
        if let Some(database) = self.postgres {
            database.drop_database().await?;
        }
        Ok(())
    }
}

/// How `--durability` spells `durability`.
fn durability_name(durability: DurabilityArg) -> String {
    use clap::ValueEnum;
    durability
        .to_possible_value()
        .map_or_else(String::new, |v| v.get_name().to_owned())
}

/// A `durable serve` process on the scenario's database: a host besides this process's.
struct ServeProcess {
    child: tokio::process::Child,
}

impl ServeProcess {
    /// Starts one without its HTTP API and waits until it serves.
    async fn start(args: &BenchArgs, db: &str, cache: usize) -> anyhow::Result<ServeProcess> {
        Self::start_with(args, db, cache, ["--no-http"]).await
    }

    /// Starts one with these further arguments and waits until it serves.
    async fn start_with(
        args: &BenchArgs,
        db: &str,
        cache: usize,
        more: impl IntoIterator<Item = impl AsRef<std::ffi::OsStr>>,
    ) -> anyhow::Result<ServeProcess> {
        use tokio::io::AsyncBufReadExt;
        let mut child = tokio::process::Command::new(std::env::current_exe()?)
            .args(["--db", db, "serve"])
            .args(more)
            .arg("--durability")
            .arg(durability_name(args.durability))
            .arg("--orchestration-concurrency")
            .arg(args.concurrency.to_string())
            .arg("--activity-concurrency")
            .arg(args.concurrency.to_string())
            .arg("--cache-capacity")
            .arg(cache.to_string())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        let stderr = child.stderr.take().expect("piped");
        let mut lines = tokio::io::BufReader::new(stderr).lines();
        let mut seen = Vec::new();
        let serving = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = lines.next_line().await? {
                if line.contains("serving") {
                    return Ok(true);
                }
                seen.push(line);
            }
            Ok::<bool, std::io::Error>(false)
        })
        .await;
        anyhow::ensure!(
            matches!(serving, Ok(Ok(true))),
            "a `durable serve` host did not start:\n{}",
            seen.join("\n")
        );
        // Keep reading, so that its logging never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(ServeProcess { child })
    }

    /// Stops it (its work is done: the scenario's database is dropped next).
    async fn stop(mut self) -> anyhow::Result<()> {
        self.child.start_kill()?;
        self.child.wait().await?;
        Ok(())
    }
}

impl Bench {
    fn rust(&self) -> &Guest {
        &self.guests[0]
    }

    /// A fresh database for the scenario `name` (letters, digits and `_`).
    async fn database(&self, name: &str) -> anyhow::Result<BenchDb> {
        match &self.postgres {
            None => {
                let path = self.dir.path().join(format!("{name}.db"));
                let store = Arc::new(SqliteStore::open(&path, self.args.durability.into())?);
                Ok(BenchDb {
                    arg: path.display().to_string(),
                    store,
                    postgres: None,
                })
            }
            Some(server) => {
                let name = format!("durable_bench_{}_{name}", std::process::id());
                let database = ScratchDatabase::create(server, &name).await?;
                let store = durable_host::store::open(database.url(), Durability::Full).await?;
                Ok(BenchDb {
                    arg: database.url().to_owned(),
                    store,
                    postgres: Some(database),
                })
            }
        }
    }

    /// This process's host on `db`.
    fn host(&self, db: &BenchDb, chains: u32) -> anyhow::Result<Host> {
        let config = HostConfig {
            orchestration_concurrency: self.args.concurrency,
            activity_concurrency: self.args.concurrency,
            cache_capacity: Self::cache_capacity(chains),
            pooling: !self.args.no_pooling,
            ..HostConfig::default()
        };
        Ok(Host::new(db.store.clone(), Arc::new(SystemClock), config)?)
    }

    fn cache_capacity(chains: u32) -> usize {
        (chains as usize).max(1024)
    }

    /// Runs `scenario` on a fresh database for the scenario `name`, and drops the database
    /// however the scenario ends.
    async fn on_fresh_database(
        &self,
        name: &str,
        scenario: impl AsyncFnOnce(&BenchDb) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let db = self.database(name).await?;
        let measured = scenario(&db).await;
        let dropped = db.finish().await;
        measured.and(dropped)
    }

    /// (a) Chains with `hosts` hosts.
    async fn chains(&self, guest: &Guest, hosts: u32) -> anyhow::Result<()> {
        let name = format!("chains_{}_{hosts}", guest.language);
        self.on_fresh_database(&name, async |db| self.chains_on(db, guest, hosts).await)
            .await
    }

    async fn chains_on(&self, db: &BenchDb, guest: &Guest, hosts: u32) -> anyhow::Result<()> {
        let n = if guest.language == "rust" {
            self.args.chains
        } else {
            self.args.interpreted_chains
        };
        let host = self.host(db, n)?;
        host.deploy(&guest.bytes).await?;
        let mut others = Vec::new();
        for _ in 1..hosts {
            others.push(ServeProcess::start(&self.args, &db.arg, Self::cache_capacity(n)).await?);
        }
        let before = db.counters().await;
        let instantiated = instantiations();
        let running = host.start();
        let started = Instant::now();
        let mut starts = tokio::task::JoinSet::new();
        for i in 0..n {
            let client = host.client().clone();
            let input = self.args.chain_length.to_string();
            starts.spawn(async move {
                client
                    .start(
                        StartRequest::new("chain")
                            .input(input)
                            .instance_id(format!("chain-{i}")),
                    )
                    .await
            });
        }
        while let Some(started) = starts.join_next().await {
            started??;
        }
        let unfinished = InstanceFilter {
            statuses: vec![RuntimeStatus::Pending, RuntimeStatus::Running],
            limit: Some(1),
            ..Default::default()
        };
        let failed = InstanceFilter {
            statuses: vec![RuntimeStatus::Failed],
            limit: Some(1),
            ..Default::default()
        };
        let (finished, peak_anonymous) = with_peak_anonymous(async {
            while !db.store.list_instances(&unfinished).await?.is_empty() {
                if let Some(f) = db.store.list_instances(&failed).await?.first() {
                    anyhow::bail!(
                        "{} chain {} failed: {}",
                        guest.language,
                        f.instance_id,
                        f.failure.as_ref().map_or("?".into(), |f| f.message.clone())
                    );
                }
                anyhow::ensure!(
                    started.elapsed() < Duration::from_secs(600),
                    "chains did not finish in 10 minutes"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Ok(())
        })
        .await;
        finished?;
        let elapsed = started.elapsed();
        running.shutdown().await;
        let kept = host.free_slots_resident_bytes();
        drop(host);
        for other in others {
            other.stop().await?;
        }
        let records = db.store.list_instances(&InstanceFilter::default()).await?;
        anyhow::ensure!(
            records.len() == n as usize,
            "{} chains stored, {n} started",
            records.len()
        );
        let mut latencies: Vec<u64> = records
            .iter()
            .filter_map(|r| r.completed_at.map(|c| c.saturating_sub(r.created_at)))
            .collect();
        latencies.sort_unstable();
        let expected =
            u64::from(self.args.chain_length) * u64::from(self.args.chain_length.saturating_sub(1));
        if let Some(wrong) = records.iter().find(|r| {
            r.status != RuntimeStatus::Completed
                || r.output.as_deref() != Some(expected.to_string().as_str())
        }) {
            anyhow::bail!(
                "{} chain {} ended {} with {:?}, expected {expected}",
                guest.language,
                wrong.instance_id,
                wrong.status,
                wrong.output
            );
        }
        let commits = match before {
            Some(before) => {
                // The server counts a backend's transactions when it goes idle or ends;
                // this process's connections are gone, the other hosts' are closing.
                if db.postgres.is_some() {
                    tokio::time::sleep(Duration::from_millis(1500)).await;
                }
                db.per_orchestration(before, db.counters().await, n)
            }
            None => String::new(),
        };
        let [orchestrators, activities] = instantiations();
        let fresh = format!(
            ", {:.2} orchestrator and {:.2} activity instances created per orchestration",
            (orchestrators - instantiated[0]) as f64 / f64::from(n),
            (activities - instantiated[1]) as f64 / f64::from(n)
        );
        let secs = elapsed.as_secs_f64();
        let activities = f64::from(n * self.args.chain_length);
        println!(
            "(a) {:<6} {hosts} host{}, {n} chains x {} activities: {:.2} s, {:.0} orchestrations/s, \
             {:.0} activities/s, latency p50 {} ms, p99 {} ms{commits}{fresh}, process peak RSS \
             {:.0} MiB (anonymous {:.0} MiB), free pool slots keep {:.0} MiB at the end",
            guest.language,
            if hosts == 1 { "" } else { "s" },
            self.args.chain_length,
            secs,
            f64::from(n) / secs,
            activities / secs,
            percentile(&latencies, 50.0),
            percentile(&latencies, 99.0),
            peak_rss_mib().unwrap_or(0.0),
            mib(peak_anonymous as f64),
            mib(kept as f64)
        );
        Ok(())
    }

    /// (b) One fan-out of `guest`'s.
    async fn fan_out(&self, guest: &Guest) -> anyhow::Result<()> {
        let name = format!("fan_out_{}", guest.language);
        self.on_fresh_database(&name, async |db| self.fan_out_on(db, guest).await)
            .await
    }

    async fn fan_out_on(&self, db: &BenchDb, guest: &Guest) -> anyhow::Result<()> {
        let host = self.host(db, 0)?;
        host.deploy(&guest.bytes).await?;
        let running = host.start();
        let n = self.args.fan_out;
        let started = Instant::now();
        let id = host
            .client()
            .start(StartRequest::new("fan_out").input(n.to_string()))
            .await?;
        let instantiated = instantiations()[1];
        let (record, peak_anonymous) =
            with_peak_anonymous(host.client().wait(&id, Duration::from_secs(600))).await;
        let instantiated = instantiations()[1] - instantiated;
        let record = record?;
        let elapsed = started.elapsed();
        running.shutdown().await;
        anyhow::ensure!(
            record.status == RuntimeStatus::Completed,
            "{} fan-out ended {}: {}",
            guest.language,
            record.status,
            record
                .failure
                .as_ref()
                .map_or("?".into(), |f| f.message.clone())
        );
        let expected = u64::from(n) * u64::from(n.saturating_sub(1));
        anyhow::ensure!(
            record.output.as_deref() == Some(expected.to_string().as_str()),
            "fan-out returned {:?}, expected {expected}",
            record.output
        );
        println!(
            "(b) {:<6} fan-out of {n} activities: {:.3} s, {:.0} activities/s, {instantiated} \
             activity instances created, process peak RSS {:.0} MiB (anonymous {:.0} MiB)",
            guest.language,
            elapsed.as_secs_f64(),
            f64::from(n) / elapsed.as_secs_f64(),
            peak_rss_mib().unwrap_or(0.0),
            mib(peak_anonymous as f64)
        );
        Ok(())
    }

    /// Writes a history of `events` events for `event_loop` (ExecutionStarted
    /// then turns of OrchestratorStarted + EventRaised) through the store's
    /// own commit path.
    async fn long_history(
        &self,
        store: &Arc<dyn Store>,
        digest: &str,
    ) -> anyhow::Result<Vec<HistoryEvent>> {
        let now = SystemClock.now();
        store
            .create_instance(NewInstance {
                instance_id: "replay".into(),
                name: "event_loop".into(),
                execution_id: "e1".into(),
                digest: digest.into(),
                input: "null".into(),
                parent: None,
                created_at: now,
                version: None,
                trace: None,
            })
            .await?;
        let items = store.lock_orchestrations("bench", 1, 60_000, now).await?;
        let item = items
            .first()
            .ok_or_else(|| anyhow::anyhow!("no work item"))?;
        let mut history = Vec::new();
        let push = |history: &mut Vec<HistoryEvent>, kind: EventKind, at: u64| {
            history.push(HistoryEvent {
                event_id: None,
                timestamp: at,
                kind,
            });
        };
        push(&mut history, EventKind::OrchestratorStarted, now);
        push(
            &mut history,
            EventKind::ExecutionStarted {
                name: "event_loop".into(),
                instance_id: "replay".into(),
                execution_id: "e1".into(),
                input: "null".into(),
                parent: None,
                version: None,
                trace: None,
            },
            now,
        );
        let mut at = now;
        while (history.len() as u32) + 2 <= self.args.history {
            at += 1;
            push(&mut history, EventKind::OrchestratorStarted, at);
            push(
                &mut history,
                EventKind::EventRaised {
                    name: "tick".into(),
                    input: "null".into(),
                },
                at,
            );
        }
        let locked = Locked {
            instance: &item.instance,
            lock_token: &item.lock_token,
        };
        let consumed = item.messages.iter().map(|m| m.id).collect();
        let mut commit = base_commit(locked, consumed, RuntimeStatus::Running, at);
        commit.new_history = history.clone();
        store.complete_orchestration(commit).await?;
        Ok(history)
    }

    /// (c) Cold replay against a cached turn.
    async fn replay(&self) -> anyhow::Result<()> {
        self.on_fresh_database("replay", async |db| self.replay_on(db).await)
            .await
    }

    async fn replay_on(&self, db: &BenchDb) -> anyhow::Result<()> {
        let store = db.store.clone();
        let wasm = WasmRuntime::new(
            HostConfig::default().compile_cache,
            GuestLimits {
                step_cpu: Duration::from_secs(60),
                ..GuestLimits::default()
            },
            0,
        )?;
        let component = wasm.load(&self.rust().bytes).await?;
        let history = self.long_history(&store, &component.digest).await?;
        let events = history.len();

        let mut colds = Vec::new();
        let mut loads = Vec::new();
        let mut live = None;
        let execution = Execution {
            orchestrator: "event_loop",
            instance_id: "replay",
            execution_id: "e1",
        };
        for _ in 0..5 {
            // Reading the history alone, for the figure beside the replay's.
            let started = Instant::now();
            let loaded = store.history("replay").await?;
            loads.push(started.elapsed());
            drop(loaded);
            // The engine's own cold replay, as after a cache miss: the guest replays the
            // first turns while the rest is read.
            let started = Instant::now();
            let chunks = store.history_chunks("replay").await?;
            let replayed =
                match cold_replay_chunks(&wasm, &component, execution, chunks, |_| {}).await {
                    Ok(replayed) => replayed,
                    Err(ColdReplayError::Failed { failure, .. }) => anyhow::bail!("{failure}"),
                    Err(ColdReplayError::Engine(e)) => return Err(e.into()),
                };
            colds.push(started.elapsed());
            anyhow::ensure!(
                replayed.state.history_len() as usize == events,
                "the replay saw {} events of {events}",
                replayed.state.history_len()
            );
            live = Some((replayed.guest, replayed.state));
        }
        let (mut guest, mut replay) = live.ok_or_else(|| anyhow::anyhow!("no run"))?;
        let mut hots = Vec::new();
        let mut now = SystemClock.now();
        for _ in 0..200 {
            now += 1;
            let started = Instant::now();
            let turn = replay.begin_turn(
                now,
                vec![EventKind::EventRaised {
                    name: "tick".into(),
                    input: "null".into(),
                }],
            );
            let out = guest
                .step(&turn, false, now)
                .await
                .map_err(|f| anyhow::anyhow!("{f}"))?;
            replay.finish_turn(turn, &out.actions, now)?;
            hots.push(started.elapsed());
        }
        colds.sort();
        loads.sort();
        hots.sort();
        let cold = colds[colds.len() / 2];
        let hot = hots[hots.len() / 2];
        let backend = if db.postgres.is_some() {
            "PostgreSQL"
        } else {
            "SQLite"
        };
        println!(
            "(c) {events}-event history: cold replay {:.2} ms (reading it from {backend} \
             meanwhile; reading alone {:.2} ms), one new event to a cached instance {:.1} us; \
             cached is {:.0}x cheaper",
            cold.as_secs_f64() * 1e3,
            loads[loads.len() / 2].as_secs_f64() * 1e3,
            hot.as_secs_f64() * 1e6,
            cold.as_secs_f64() / hot.as_secs_f64().max(1e-9)
        );
        Ok(())
    }

    /// (d) For one component: load it cold (compile, write the disk cache)
    /// and warm (from that cache), time fresh live orchestrations (a new
    /// guest instance and its `orchestration` resource, as the host makes
    /// one after an eviction), then hold many that have run their first turn
    /// and measure what one costs in memory.
    async fn instances(&self, guest: &Guest) -> anyhow::Result<()> {
        let cache = self.dir.path().join(format!("cache-{}", guest.language));
        let held = self.args.held_instances.max(1);
        let runtime = || {
            WasmRuntime::new(
                Some(cache.clone()),
                GuestLimits::default(),
                if self.args.no_pooling { 0 } else { held + 16 },
            )
        };
        let started = Instant::now();
        runtime()?.load(&guest.bytes).await?;
        let cold = started.elapsed();
        let wasm = runtime()?;
        let started = Instant::now();
        let component = wasm.load(&guest.bytes).await?;
        let warm = started.elapsed();

        let start = |i: u32| {
            let (wasm, component) = (&wasm, &component);
            async move {
                wasm.start_orchestration(component, "chain", &format!("bench-{i}"), "e1")
                    .await?
                    .map_err(|f| anyhow::anyhow!("{f}"))
            }
        };
        for i in 0..8 {
            start(i).await?; // warm the pool's slots and the code's pages
        }
        let mut times = Vec::new();
        for i in 0..self.args.instantiations.max(1) {
            let started = Instant::now();
            let live = start(i).await?;
            times.push(started.elapsed());
            drop(live);
        }
        times.sort();

        let now = SystemClock.now();
        let before = rss_bytes();
        let mut live = Vec::new();
        let mut first_turns = Vec::new();
        for i in 0..held {
            let mut instance = start(i).await?;
            let id = format!("bench-{i}");
            let first_turn = [
                HistoryEvent {
                    event_id: None,
                    timestamp: now,
                    kind: EventKind::OrchestratorStarted,
                },
                HistoryEvent {
                    event_id: None,
                    timestamp: now,
                    kind: EventKind::ExecutionStarted {
                        name: "chain".into(),
                        instance_id: id,
                        execution_id: "e1".into(),
                        input: self.args.chain_length.to_string(),
                        parent: None,
                        version: None,
                        trace: None,
                    },
                },
            ];
            let started = Instant::now();
            let out = instance
                .step(&first_turn, false, now)
                .await
                .map_err(|f| anyhow::anyhow!("{f}"))?;
            first_turns.push(started.elapsed());
            anyhow::ensure!(
                out.actions.len() == 1,
                "{} chain's first turn decided {} actions, expected 1",
                guest.language,
                out.actions.len()
            );
            live.push(instance);
        }
        let after = rss_bytes();
        first_turns.sort();
        let linear = live
            .iter()
            .map(|instance| instance.linear_memory_bytes() as f64)
            .sum::<f64>()
            / f64::from(held);
        let per = |pick: fn((u64, u64)) -> u64| match (before, after) {
            (Some(b), Some(a)) => format!(
                "{:.2} MiB",
                mib(pick(a).saturating_sub(pick(b)) as f64 / f64::from(held))
            ),
            _ => "?".into(),
        };
        println!(
            "(d) {:<6} load {:.2} s cold (compile), {:.0} ms warm (disk cache); \
             new live instance {:.0} us (median of {}, p99 {:.0} us), first turn {:.0} us; \
             per cached instance ({held} held): RSS +{} (anonymous +{}), \
             guest linear memory {:.1} MiB",
            guest.language,
            cold.as_secs_f64(),
            warm.as_secs_f64() * 1e3,
            times[times.len() / 2].as_secs_f64() * 1e6,
            times.len(),
            times[((times.len() - 1) * 99) / 100].as_secs_f64() * 1e6,
            first_turns[first_turns.len() / 2].as_secs_f64() * 1e6,
            per(|(rss, _)| rss),
            per(|(_, anon)| anon),
            mib(linear)
        );
        Ok(())
    }
}

/// Runs the benchmark; scenarios (a) to (c) on PostgreSQL when `db` (the global `--db`) is a
/// server's URL, on fresh SQLite files otherwise (never on the `--db` file).
pub async fn run(args: BenchArgs, db: &Path) -> anyhow::Result<ExitCode> {
    // Metrics are recorded as `durable serve` records them, so the figures include their cost.
    durable_host::metrics::exporter();
    let postgres = super::postgres_url(db).map(str::to_owned);
    let rust = std::fs::read(&args.component).map_err(|e| {
        anyhow::anyhow!(
            "cannot read the bench component {}: {e} (build it with scripts/bench.sh, or pass --component)",
            args.component.display()
        )
    })?;
    let mut guests = vec![Guest {
        language: "rust",
        bytes: rust,
    }];
    if let Some(path) = &args.python_component {
        guests.push(read_guest("python", path)?);
    }
    if let Some(path) = &args.js_component {
        guests.push(read_guest("js", path)?);
    }
    let storage = match &postgres {
        Some(_) => "PostgreSQL (a database per scenario)".to_owned(),
        None => format!("SQLite {}", Durability::from(args.durability).describe()),
    };
    println!(
        "durable bench: {storage}; {} cores; concurrency {}; {} instance allocator; guests: {}",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        args.concurrency,
        if args.no_pooling {
            "on-demand"
        } else {
            "pooling"
        },
        guests
            .iter()
            .map(|g| g.language)
            .collect::<Vec<_>>()
            .join(", ")
    );
    let bench = Bench {
        guests,
        dir: tempfile::tempdir()?,
        args,
        postgres,
    };
    let only = |s: &str| bench.args.only.iter().any(|o| o.trim() == s);
    if only("a") {
        for &hosts in &bench.args.hosts {
            for guest in &bench.guests {
                bench.chains(guest, hosts).await?;
            }
        }
    }
    if only("b") {
        for guest in &bench.guests {
            bench.fan_out(guest).await?;
        }
    }
    if only("c") {
        bench.replay().await?;
    }
    if only("d") {
        for guest in &bench.guests {
            bench.instances(guest).await?;
        }
    }
    if only("e") {
        for guest in &bench.guests {
            for &clients in &bench.args.http_clients {
                bench.front_door(guest, clients).await?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
