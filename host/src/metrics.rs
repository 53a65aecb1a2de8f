//! What the host counts and measures, for Prometheus (`GET /metrics`).
//!
//! The engine, the stores and the runtime record through the [`metrics`] facade with the
//! small functions below (one per event, so every metric's name and labels are written once,
//! here). Nothing is kept unless a recorder is installed: `durable serve` installs the
//! Prometheus one ([`exporter`]) before it starts the engine, and `GET /metrics` renders it
//! in the Prometheus text format. A program embedding the host may install any other
//! `metrics` recorder instead and receives the same metrics.
//!
//! Counters and histograms are recorded as things happen. The gauges about the database
//! (instances by status, ready work, the age of the oldest ready message, timer lag) are set
//! from one query ([`crate::store::Store::backlog`]) when `/metrics` is scraped, so they are
//! true for the whole database, whichever host did the work. Durations are wall time
//! measured around the work (they describe the process, and decide nothing). Every metric is
//! described in `docs/metrics.md`.

use crate::store::Backlog;
use crate::types::{RuntimeStatus, Timestamp};
use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Duration;

/// Buckets of the duration histograms, in seconds: 0.5 ms to 5 min.
const SECONDS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0, 300.0,
];
/// Buckets of the requests-per-commit histogram.
const BATCH: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

/// How an orchestration turn ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TurnOutcome {
    /// Committed; the instance goes on (waits for more messages).
    Continued,
    /// Committed; the orchestration completed.
    Completed,
    /// Committed; the execution failed (the code's failure or the host's).
    Failed,
    /// Committed; a client's termination ended it.
    Terminated,
    /// Committed; the orchestration continued as new.
    ContinuedAsNew,
    /// The instance had finished: its late messages were dropped.
    Dropped,
    /// Another host took the instance over: the turn was discarded.
    Discarded,
    /// It failed outside the guest (storage, the runtime): abandoned, to run again.
    Retried,
}

impl TurnOutcome {
    /// The outcome of a committed turn that leaves its instance in `status`.
    pub fn committed(status: RuntimeStatus) -> TurnOutcome {
        match status {
            RuntimeStatus::Completed => TurnOutcome::Completed,
            RuntimeStatus::Failed => TurnOutcome::Failed,
            RuntimeStatus::Terminated => TurnOutcome::Terminated,
            RuntimeStatus::ContinuedAsNew => TurnOutcome::ContinuedAsNew,
            _ => TurnOutcome::Continued,
        }
    }

    /// Its name in metrics and traces.
    pub(crate) fn label(self) -> &'static str {
        match self {
            TurnOutcome::Continued => "continued",
            TurnOutcome::Completed => "completed",
            TurnOutcome::Failed => "failed",
            TurnOutcome::Terminated => "terminated",
            TurnOutcome::ContinuedAsNew => "continued_as_new",
            TurnOutcome::Dropped => "dropped",
            TurnOutcome::Discarded => "discarded",
            TurnOutcome::Retried => "retried",
        }
    }
}

/// How an activity attempt or an entity batch ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkOutcome {
    /// It succeeded and its result was committed.
    Completed,
    /// It failed (the code's failure, a trap, a timeout) and the failure was committed.
    Failed,
    /// Another host took it over: its result was dropped.
    Discarded,
    /// It could not run (storage, the runtime): it runs again later.
    Retried,
}

impl WorkOutcome {
    /// Its name in metrics and traces.
    pub(crate) fn label(self) -> &'static str {
        match self {
            WorkOutcome::Completed => "completed",
            WorkOutcome::Failed => "failed",
            WorkOutcome::Discarded => "discarded",
            WorkOutcome::Retried => "retried",
        }
    }
}

/// A turn began.
pub(crate) fn turn_started() {
    counter!("durable_turns_started_total").increment(1);
}

/// A turn ended, `elapsed` after it began.
pub(crate) fn turn_finished(outcome: TurnOutcome, elapsed: Duration) {
    counter!("durable_turns_finished_total", "outcome" => outcome.label()).increment(1);
    histogram!("durable_turn_duration_seconds").record(elapsed);
}

/// An activity attempt began.
pub(crate) fn activity_started() {
    counter!("durable_activities_started_total").increment(1);
}

/// An activity attempt ended, `elapsed` after it began.
pub(crate) fn activity_finished(outcome: WorkOutcome, elapsed: Duration) {
    counter!("durable_activities_finished_total", "outcome" => outcome.label()).increment(1);
    histogram!("durable_activity_duration_seconds").record(elapsed);
}

/// An entity batch of `operations` began.
pub(crate) fn entity_batch_started(operations: usize) {
    counter!("durable_entity_batches_started_total").increment(1);
    counter!("durable_entity_operations_total").increment(operations as u64);
}

/// An entity batch ended, `elapsed` after it began.
pub(crate) fn entity_batch_finished(outcome: WorkOutcome, elapsed: Duration) {
    counter!("durable_entity_batches_finished_total", "outcome" => outcome.label()).increment(1);
    histogram!("durable_entity_batch_duration_seconds").record(elapsed);
}

/// A store transaction carrying `requests` writes ended (`ok`: committed), `elapsed` after
/// it began (on SQLite with full durability, this includes the fsync).
pub(crate) fn store_commit(backend: &'static str, requests: usize, ok: bool, elapsed: Duration) {
    if !ok {
        counter!("durable_store_commit_failures_total", "backend" => backend).increment(1);
        return;
    }
    counter!("durable_store_commits_total", "backend" => backend).increment(1);
    histogram!("durable_store_commit_requests", "backend" => backend).record(requests as f64);
    histogram!("durable_store_commit_duration_seconds", "backend" => backend).record(elapsed);
}

/// The last commit was made without an fsync (lock writes alone, on a file that syncs every
/// other commit).
pub(crate) fn store_commit_unsynced(backend: &'static str) {
    counter!("durable_store_commits_unsynced_total", "backend" => backend).increment(1);
}

/// A commit claimed `items` of the next work of `kind` (`activities`, `orchestrations`) for
/// this host, which runs them without locking them ([`crate::store::Claim`]).
pub(crate) fn claimed(kind: &'static str, items: usize) {
    if items > 0 {
        counter!("durable_work_claimed_total", "kind" => kind).increment(items as u64);
    }
}

/// A turn found its live instance in the cache.
pub(crate) fn cache_hit() {
    counter!("durable_cache_hits_total").increment(1);
}

/// A turn found no live instance in the cache: it replays the history cold.
pub(crate) fn cache_miss() {
    counter!("durable_cache_misses_total").increment(1);
}

/// Live instances were evicted from the cache to make room or free memory.
pub(crate) fn cache_evicted(instances: usize) {
    counter!("durable_cache_evictions_total").increment(instances as u64);
}

/// The cache now holds `instances` live instances.
pub(crate) fn cache_size(instances: usize) {
    gauge!("durable_cache_instances").set(instances as f64);
}

/// The warm pool now keeps `instances` idle activity instances.
pub(crate) fn warm_activities(instances: usize) {
    gauge!("durable_warm_activity_instances").set(instances as f64);
}

/// The guest instance pool's free slots keep `bytes` resident (pages their last instances
/// wrote, rewritten in place for the next instance instead of faulted in again).
pub(crate) fn free_slots_resident(bytes: usize) {
    gauge!("durable_pool_free_slots_resident_bytes").set(bytes as f64);
}

/// A cold replay of `events` history events ran, taking `elapsed`.
pub(crate) fn cold_replay(events: usize, elapsed: Duration) {
    counter!("durable_cold_replays_total").increment(1);
    counter!("durable_cold_replay_events_total").increment(events as u64);
    histogram!("durable_cold_replay_duration_seconds").record(elapsed);
}

/// A component was loaded: from the compiled-code cache on disk, or compiled.
pub(crate) fn component_loaded(from_cache: bool) {
    let source = if from_cache { "cache" } else { "compiled" };
    counter!("durable_component_loads_total", "source" => source).increment(1);
}

/// A guest component was instantiated afresh for `kind` of work (`orchestrator`, `activity`,
/// `entity`, `catalogue`): each costs the component's start-up and the pages it writes.
pub(crate) fn guest_instantiated(kind: &'static str) {
    counter!("durable_guest_instantiations_total", "kind" => kind).increment(1);
}

/// Guest linear memory grew (positive) or was freed with its store (negative), in bytes.
pub(crate) fn guest_memory(delta: i64) {
    let bytes = gauge!("durable_guest_memory_bytes");
    if delta >= 0 {
        bytes.increment(delta as f64);
    } else {
        bytes.decrement(delta.unsigned_abs() as f64);
    }
}

/// Sets the database gauges from a backlog read at `now`.
pub fn record_backlog(backlog: &Backlog, now: Timestamp) {
    for status in RuntimeStatus::ALL {
        let count = backlog
            .instances
            .iter()
            .find(|(s, _)| *s == status)
            .map_or(0, |(_, n)| *n);
        gauge!("durable_instances", "status" => status.as_str()).set(count as f64);
    }
    let age =
        |oldest: Option<Timestamp>| oldest.map_or(0.0, |t| now.saturating_sub(t) as f64 / 1e3);
    gauge!("durable_ready_messages").set(backlog.messages.count as f64);
    gauge!("durable_oldest_ready_message_age_seconds").set(age(backlog.messages.oldest));
    gauge!("durable_due_timers").set(backlog.timers.count as f64);
    gauge!("durable_timer_lag_seconds").set(age(backlog.timers.oldest));
    gauge!("durable_ready_activities").set(backlog.activities.count as f64);
    gauge!("durable_oldest_ready_activity_age_seconds").set(age(backlog.activities.oldest));
    gauge!("durable_running_activities").set(backlog.running_activities as f64);
    gauge!("durable_ready_entity_messages").set(backlog.entity_messages.count as f64);
}

/// The Prometheus recorder this process records into.
pub struct Exporter {
    handle: PrometheusHandle,
}

impl std::fmt::Debug for Exporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Exporter")
    }
}

impl Exporter {
    /// Everything recorded, in the Prometheus text exposition format.
    pub fn render(&self) -> String {
        self.handle.render()
    }
}

/// The process's Prometheus recorder, installed as the `metrics` recorder on first use
/// (`durable serve` uses it before starting the engine, so nothing is missed). When another
/// recorder was installed first, this one receives nothing and says so once.
pub fn exporter() -> &'static Exporter {
    static EXPORTER: OnceLock<Exporter> = OnceLock::new();
    EXPORTER.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS)
            .and_then(|b| {
                b.set_buckets_for_metric(
                    Matcher::Full("durable_store_commit_requests".into()),
                    BATCH,
                )
            })
            .expect("bucket lists are not empty");
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("another metrics recorder is installed: /metrics shows nothing");
        } else {
            describe();
            // Histograms keep samples until drained; drain them between scrapes too, so a
            // host nobody scrapes holds bounded memory.
            let upkeep = handle.clone();
            let spawned = std::thread::Builder::new()
                .name("durable-metrics-upkeep".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(Duration::from_secs(5));
                        upkeep.run_upkeep();
                    }
                });
            if let Err(e) = spawned {
                tracing::warn!("cannot start the metrics upkeep thread: {e}");
            }
        }
        Exporter { handle }
    })
}

/// The `# HELP` lines.
fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!("durable_turns_started_total", "Orchestration turns begun.");
    describe_counter!(
        "durable_turns_finished_total",
        "Orchestration turns ended, by outcome: continued, completed, failed, terminated, \
         continued_as_new, dropped (late messages of a finished instance), discarded (lease \
         lost), retried (failed outside the guest)."
    );
    describe_histogram!(
        "durable_turn_duration_seconds",
        Unit::Seconds,
        "Time of one orchestration turn: load (cache or cold replay), run, commit."
    );
    describe_counter!(
        "durable_activities_started_total",
        "Activity attempts begun."
    );
    describe_counter!(
        "durable_activities_finished_total",
        "Activity attempts ended, by outcome: completed, failed, discarded (lease lost), \
         retried (could not run)."
    );
    describe_histogram!(
        "durable_activity_duration_seconds",
        Unit::Seconds,
        "Time of one activity attempt, from lock to committed result."
    );
    describe_counter!(
        "durable_entity_batches_started_total",
        "Entity batches begun."
    );
    describe_counter!(
        "durable_entity_operations_total",
        "Entity operations in the batches begun."
    );
    describe_counter!(
        "durable_entity_batches_finished_total",
        "Entity batches ended, by outcome: completed, discarded (lease lost), retried."
    );
    describe_histogram!(
        "durable_entity_batch_duration_seconds",
        Unit::Seconds,
        "Time of one entity batch, from lock to commit."
    );
    describe_counter!(
        "durable_store_commits_total",
        "Store transactions committed (on SQLite, one group commit: one fsync with full \
         durability)."
    );
    describe_counter!(
        "durable_store_commit_failures_total",
        "Store transactions that failed and were rolled back."
    );
    describe_histogram!(
        "durable_store_commit_requests",
        "Write requests carried by one committed transaction (the group commit's batch size)."
    );
    describe_histogram!(
        "durable_store_commit_duration_seconds",
        Unit::Seconds,
        "Time of one committed transaction, from begin to durable commit (fsync included)."
    );
    describe_counter!(
        "durable_work_claimed_total",
        "Work items a commit locked for this host in its own transaction (the activities a \
         turn queued, the turn an activity's result woke, a start's first turn), run at once \
         without a lock."
    );
    describe_counter!(
        "durable_cache_hits_total",
        "Turns that found their instance live in the cache."
    );
    describe_counter!(
        "durable_cache_misses_total",
        "Turns that found no live instance and replayed the history cold."
    );
    describe_counter!(
        "durable_cache_evictions_total",
        "Live instances dropped from the cache (full, memory pressure, or idle)."
    );
    describe_gauge!(
        "durable_cache_instances",
        "Live orchestrator instances in this host's cache."
    );
    describe_gauge!(
        "durable_warm_activity_instances",
        "Idle activity instances kept warm for the next call."
    );
    describe_gauge!(
        "durable_pool_free_slots_resident_bytes",
        "Bytes the guest instance pool's free slots keep resident for their next instances."
    );
    describe_counter!("durable_cold_replays_total", "Cold replays run by turns.");
    describe_counter!(
        "durable_cold_replay_events_total",
        "History events replayed by cold replays."
    );
    describe_histogram!(
        "durable_cold_replay_duration_seconds",
        Unit::Seconds,
        "Time of one cold replay: reading the history and feeding every recorded turn to a fresh instance, overlapped."
    );
    describe_counter!(
        "durable_component_loads_total",
        "Components loaded, by source: cache (compiled code read from disk) or compiled."
    );
    describe_gauge!(
        "durable_guest_memory_bytes",
        Unit::Bytes,
        "Linear memory held by every guest instance alive in this process (cached \
         orchestrators, warm activity instances, running guests)."
    );
    describe_gauge!(
        "durable_instances",
        "Instances in the database, by runtime status (read at scrape time)."
    );
    describe_gauge!(
        "durable_ready_messages",
        "Messages visible to orchestrations and not yet consumed, suspended instances left \
         out (read at scrape time)."
    );
    describe_gauge!(
        "durable_oldest_ready_message_age_seconds",
        Unit::Seconds,
        "How long the oldest ready message has been visible (0 when none)."
    );
    describe_gauge!(
        "durable_due_timers",
        "Timers whose time has come and whose firing is not yet consumed."
    );
    describe_gauge!(
        "durable_timer_lag_seconds",
        Unit::Seconds,
        "How late the most overdue timer is (0 when none is due)."
    );
    describe_gauge!(
        "durable_ready_activities",
        "Activity tasks ready to run and not locked by a host."
    );
    describe_gauge!(
        "durable_oldest_ready_activity_age_seconds",
        Unit::Seconds,
        "How long the oldest ready activity task has waited (0 when none)."
    );
    describe_gauge!(
        "durable_running_activities",
        "Activity tasks locked by a host (running)."
    );
    describe_gauge!(
        "durable_ready_entity_messages",
        "Entity operations ready to run."
    );
}
