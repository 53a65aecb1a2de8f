//! The chaos test: a mixed workload on a real `durable serve`, killed with SIGKILL at random
//! moments and started again, cycle after cycle, on one database. Variants: three hosts on
//! one database, one of them killed or stopped in each cycle; and a host that stays while the
//! PostgreSQL server under it restarts in each cycle.
//!
//! The workload is every kind of work the engine records, in the Rust probe guest and the
//! Python conformance guest (the `chaos_*` functions there): chains of activities, fan-out/fan-in,
//! durable timers, external events the driver raises while the cycles go on, sub-orchestrations,
//! entity signals, and (Rust only: the Python SDK has no locks yet) critical sections that call
//! and signal the entity they hold. New instances are started in every cycle, so kills land at
//! every stage. Every activity run appends `instance task attempt generation` to a run log.
//!
//! After the last cycle a final host runs everything to the end, and the driver checks that
//! every instance completed with the output it computes from the input (none lost), that no
//! recorded step ran again (below), and that entity totals are exact. It prints a summary.
//!
//! **Recorded step executed again**, precisely: a run of an activity task under a lease taken
//! after the lease whose run's result the history records. Each lease increments the task's
//! attempt, and `chaos_step` returns its attempt, so the history says which run was recorded
//! (attempt `a`). The result's commit deletes the task, so no lease can follow it: a run with
//! an attempt above `a` (or a second run with attempt `a`) started after the result was
//! committed, or ran a recorded result twice. Must be 0. Runs with attempts below `a` are
//! **re-runs after interruption** (a kill, or a lost lease, before the result was committed):
//! allowed, since activities run at least once, and counted.
//!
//! `CHAOS_CYCLES` (default 20, what CI runs) and `CHAOS_SEED` (default random) set the run;
//! the seed is printed first, so a failure can be run again (`scripts/chaos.sh CYCLES SEED`).
//! The kill times come from the seed; what the host has done at each kill depends on timing.

use crate::process::{Durable, Serve};
use crate::support::*;
use durable_host::client::{Client, StartRequest};
use durable_host::clock::SystemClock;
use durable_host::store::{EntityFilter, InstanceFilter, Store};
use durable_host::types::{EventKind, RuntimeStatus};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long each host runs before it is killed, in ms (drawn from the seed).
const RUN_MS: (u64, u64) = (300, 1500);
/// How long each `chaos_step` run takes (so that kills land inside activities).
const STEP_MS: &str = "100";
/// The driver starts new instances while fewer than this many are unfinished.
const MAX_LIVE: usize = 12;
/// New instances per cycle: between 1 and this many (while fewer than `MAX_LIVE` are
/// unfinished).
const STARTS_PER_CYCLE: u64 = 4;
/// How long the final host may take to finish everything.
const DRAIN_WITHIN: Duration = Duration::from_secs(180);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_killed_at_random_loses_and_repeats_nothing() {
    chaos(1, Fault::Host).await;
}

/// Three hosts share one database; in every cycle one of them, drawn at random, is killed
/// (SIGKILL) or stopped (SIGTERM: it finishes its work in flight and exits 0), and a new one
/// takes its place, while the other two carry on and take over what it held.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hosts_one_killed_or_stopped_at_random_lose_and_repeat_nothing() {
    chaos(3, Fault::Host).await;
}

/// A host on a PostgreSQL server of the test's own, which is restarted (`pg_ctl restart -m
/// fast`: every connection cut, the server down for a moment) at the end of every cycle, under
/// load; the host reconnects and carries on, and loses nothing. One host: no other can take
/// over work it left locked when a write failed (with two, the other takes the first for gone
/// while its session is down and releases its leases, which hides a stall). Runs when
/// `DURABLE_TEST_POSTGRES` is set (PostgreSQL tests are on: `scripts/test.sh` sets it, and
/// installs PostgreSQL if missing); passes otherwise.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarted_under_a_host_loses_and_repeats_nothing() {
    if std::env::var_os("DURABLE_TEST_POSTGRES").is_none() {
        eprintln!("DURABLE_TEST_POSTGRES is not set: the PostgreSQL restart is not tested");
        return;
    }
    let server = crate::backend::PrivatePostgres::start("restart");
    chaos(1, Fault::ServerRestart(&server)).await;
}

/// What goes wrong at the end of every cycle.
enum Fault<'a> {
    /// A host, drawn at random, is killed (or, beside others, stopped) and replaced.
    Host,
    /// The PostgreSQL server the database is on restarts; the hosts stay.
    ServerRestart(&'a crate::backend::PrivatePostgres),
}

/// The chaos run with `hosts` hosts serving at once and `fault` at each cycle's end.
async fn chaos(hosts: usize, fault: Fault<'_>) {
    let cycles: usize = env_number("CHAOS_CYCLES").unwrap_or(match fault {
        Fault::Host => 20,
        Fault::ServerRestart(_) => 6,
    });
    let seed = env_number("CHAOS_SEED").unwrap_or_else(random_seed);
    eprintln!(
        "chaos: seed {seed}, {cycles} cycles, {hosts} hosts (again: CHAOS_SEED={seed} \
         CHAOS_CYCLES={cycles}, or scripts/chaos.sh {cycles} {seed})"
    );
    let mut rng = Rng(seed);

    let durable = match fault {
        Fault::Host => Durable::new(),
        Fault::ServerRestart(server) => Durable {
            dir: tempfile::tempdir().expect("temp dir"),
            db: crate::backend::TestDb::postgres(&server.url),
        },
    };
    // Deployed once, up front: the hosts serve what the database holds.
    durable.deploy(&guest("probe"));
    durable.deploy(&Lang::Python.conformance_guest());
    let mut store = durable.db.store();
    let mut client = Client::new(store.clone(), Arc::new(SystemClock));
    let mut restarts = 0;

    let began = Instant::now();
    let mut jobs: Vec<Job> = Vec::new();
    let mut cycle_times = Vec::new();
    let mut faults_with_work = 0;
    let mut stops = 0;
    // Every host started gets a generation of its own (its activities log it).
    let mut generations = 0..;
    let mut serving: Vec<Option<Serve>> = (0..hosts).map(|_| None).collect();
    for cycle in 0..cycles {
        let cycle_began = Instant::now();
        for _ in 0..rng.between(1, STARTS_PER_CYCLE) {
            if unfinished(store.as_ref()).await >= MAX_LIVE {
                break;
            }
            let job = Job::draw(&mut rng, cycle, jobs.len());
            job.start(&client).await;
            jobs.push(job);
        }
        raise_due_events(&client, &mut jobs, cycle).await;

        for host in serving.iter_mut().filter(|h| h.is_none()) {
            *host = Some(serve(&durable, generations.next().expect("endless")));
        }
        tokio::time::sleep(Duration::from_millis(rng.between(RUN_MS.0, RUN_MS.1))).await;
        for host in serving.iter_mut().flatten() {
            host.assert_running();
        }
        match fault {
            Fault::Host => {
                let mut victim = serving[rng.below(hosts as u64) as usize]
                    .take()
                    .expect("every host runs");
                // One host alone is always killed: stopping it would let it finish its work.
                if hosts > 1 && rng.below(2) == 0 {
                    victim.stop();
                    stops += 1;
                } else {
                    victim.kill();
                }
            }
            Fault::ServerRestart(server) => {
                server.restart();
                restarts += 1;
                // The driver's own connections were cut too.
                store = durable.db.store();
                client = Client::new(store.clone(), Arc::new(SystemClock));
            }
        }
        if unfinished(store.as_ref()).await > 0 {
            faults_with_work += 1;
        }
        cycle_times.push(cycle_began.elapsed());
        if (cycle + 1) % 100 == 0 {
            eprintln!(
                "chaos: {} cycles, {} instances started, {:.0?}",
                cycle + 1,
                jobs.len(),
                began.elapsed()
            );
        }
    }

    // The end: every event raised, hosts that are not killed until everything is done.
    raise_due_events(&client, &mut jobs, usize::MAX).await;
    let drain_began = Instant::now();
    for host in serving.iter_mut().filter(|h| h.is_none()) {
        *host = Some(serve(&durable, generations.next().expect("endless")));
    }
    let deadline = Instant::now() + DRAIN_WITHIN;
    while !(unfinished(store.as_ref()).await == 0 && entities_idle(store.as_ref()).await) {
        for host in serving.iter_mut().flatten() {
            host.assert_running();
        }
        if Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let drain = drain_began.elapsed();
    let last_logs: Vec<String> = serving.iter().flatten().map(Serve::log_text).collect();
    drop(serving);

    let runs = std::fs::read_to_string(durable.path("data").join("chaos.log")).unwrap_or_default();
    let outcome = Outcome::check(store.as_ref(), &jobs, &runs).await;
    let times = CycleTimes::of(&cycle_times);
    eprintln!(
        "{}",
        outcome.summary(
            seed,
            cycles,
            faults_with_work,
            &times,
            drain,
            began.elapsed()
        )
    );
    match fault {
        Fault::Host => eprintln!(
            "chaos: {hosts} hosts; {stops} of the {cycles} ended by SIGTERM, the rest by SIGKILL"
        ),
        Fault::ServerRestart(_) => eprintln!(
            "chaos: {hosts} hosts, none stopped; the PostgreSQL server restarted {restarts} times"
        ),
    }
    assert!(
        outcome.problems.is_empty(),
        "chaos (seed {seed}, {cycles} cycles, {hosts} hosts) found:\n{}\nlast hosts' logs:\n{}",
        outcome.problems.join("\n"),
        last_logs.join("\n---\n")
    );
}

/// A number from the environment, if set.
fn env_number<T: std::str::FromStr>(name: &str) -> Option<T> {
    let text = std::env::var(name).ok()?;
    Some(
        text.trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={text} is not a number")),
    )
}

/// A seed that differs from run to run.
fn random_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_nanos() as u64;
    nanos ^ u64::from(std::process::id()).rotate_left(32)
}

/// SplitMix64: small, seeded, and the same on every platform.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// A number in `lo..=hi`.
    fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }
}

/// `durable serve` for cycle `generation` (its activities log it as `CHAOS_GEN`), with leases
/// longer than the whole run (`process::LONG_LEASES`): each restart takes the killed host's work
/// over because it is gone.
fn serve(durable: &Durable, generation: usize) -> Serve {
    let env = [
        format!("CHAOS_GEN={generation}"),
        format!("CHAOS_STEP_MS={STEP_MS}"),
    ];
    let args = durable.killable_serve_args(&env);
    durable.serve(&format!("serve-{generation}.log"), args)
}

/// Top-level and child instances not finished yet.
async fn unfinished(store: &dyn Store) -> usize {
    let filter = InstanceFilter {
        statuses: vec![RuntimeStatus::Pending, RuntimeStatus::Running],
        ..InstanceFilter::default()
    };
    store.list_instances(&filter).await.expect("listing").len()
}

/// True when no entity has a message waiting (signals sent by finished instances arrive
/// after them).
async fn entities_idle(store: &dyn Store) -> bool {
    let filter = EntityFilter {
        include_empty: true,
        ..EntityFilter::default()
    };
    let entities = store
        .list_entities(&filter)
        .await
        .expect("listing entities");
    entities.iter().all(|entity| entity.pending == 0)
}

/// Raises `go` on every event instance whose time has come (`raise_at <= cycle`).
async fn raise_due_events(client: &Client, jobs: &mut [Job], cycle: usize) {
    for job in jobs.iter_mut() {
        if job.kind == Kind::Event && !job.raised && job.raise_at <= cycle {
            client
                .raise_event(&job.id, "go", &job.input.to_string())
                .await
                .unwrap_or_else(|e| panic!("raising go on {}: {e}", job.id));
            job.raised = true;
        }
    }
}

/// The kinds of work in the mix (`chaos_<kind>` in the guests).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Chain,
    Fan,
    Timer,
    Event,
    Sub,
    Signals,
    Lock,
}

const KINDS: [Kind; 7] = [
    Kind::Chain,
    Kind::Fan,
    Kind::Timer,
    Kind::Event,
    Kind::Sub,
    Kind::Signals,
    Kind::Lock,
];

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Chain => "chain",
            Kind::Fan => "fan",
            Kind::Timer => "timer",
            Kind::Event => "event",
            Kind::Sub => "sub",
            Kind::Signals => "signals",
            Kind::Lock => "lock",
        }
    }
}

/// One top-level instance of the workload.
struct Job {
    id: String,
    lang: Lang,
    kind: Kind,
    /// `n` (chain, fan, sub), the timer's seconds, `k` signals, or the data of `go` (event).
    input: u64,
    /// The cycle before whose host the driver raises `go` (event).
    raise_at: usize,
    raised: bool,
}

impl Job {
    fn draw(rng: &mut Rng, cycle: usize, index: usize) -> Job {
        let kind = KINDS[rng.below(KINDS.len() as u64) as usize];
        // The Python SDK has no critical sections yet.
        let lang = if kind == Kind::Lock || rng.below(2) == 0 {
            Lang::Rust
        } else {
            Lang::Python
        };
        let input = match kind {
            Kind::Chain => rng.between(2, 5),
            Kind::Fan => rng.between(2, 6),
            Kind::Timer => 1,
            Kind::Event => rng.between(1, 100),
            Kind::Sub => rng.between(1, 3),
            Kind::Signals => rng.between(1, 4),
            Kind::Lock => 0,
        };
        Job {
            id: format!("chaos-{index}-{}-{}", kind.name(), lang_name(lang)),
            lang,
            kind,
            input,
            raise_at: cycle + rng.below(4) as usize,
            raised: false,
        }
    }

    fn orchestrator(&self) -> String {
        match self.lang {
            Lang::Rust => format!("chaos_{}", self.kind.name()),
            _ => format!("chaos_{}_py", self.kind.name()),
        }
    }

    async fn start(&self, client: &Client) {
        let input = match self.kind {
            Kind::Event | Kind::Lock => Value::Null,
            _ => json!(self.input),
        };
        let request = StartRequest::new(self.orchestrator())
            .instance_id(&self.id)
            .input(input.to_string());
        client
            .start(request)
            .await
            .unwrap_or_else(|e| panic!("starting {}: {e}", self.id));
    }

    /// The output it must complete with; `None` for a lock, whose outputs are checked
    /// together (they must be `1..=L`).
    fn expected(&self) -> Option<Value> {
        let chain = |n: u64| json!((1..=n).map(|step| 2 * step).collect::<Vec<_>>());
        let n = self.input;
        Some(match self.kind {
            Kind::Chain => chain(n),
            Kind::Fan => json!(n * (n + 1)),
            Kind::Timer => json!([2, 4]),
            Kind::Event => json!([2, 2 * n]),
            Kind::Sub => json!([chain(n), chain(n + 1)]),
            Kind::Signals => json!(n),
            Kind::Lock => return None,
        })
    }

    /// The entity it signals.
    fn counter(&self) -> &'static str {
        match self.lang {
            Lang::Rust => "chaos_counter",
            _ => "chaos_counter_py",
        }
    }
}

fn lang_name(lang: Lang) -> &'static str {
    match lang {
        Lang::Rust => "rust",
        Lang::Python => "python",
        Lang::JavaScript => "js",
    }
}

/// One activity run, as `chaos_step` logged it.
#[derive(Debug)]
struct Run {
    instance: String,
    task: u32,
    attempt: u32,
}

fn parse_run(line: &str) -> Option<Run> {
    let mut fields = line.rsplitn(4, ' ');
    let _generation: usize = fields.next()?.parse().ok()?;
    let attempt = fields.next()?.parse().ok()?;
    let task = fields.next()?.parse().ok()?;
    let instance = fields.next()?.to_owned();
    Some(Run {
        instance,
        task,
        attempt,
    })
}

/// What the checks found.
#[derive(Default)]
struct Outcome {
    /// Top-level instances by (kind, language): started, completed with the right output.
    by_kind: BTreeMap<(Kind, &'static str), (usize, usize)>,
    started: usize,
    completed: usize,
    /// Not completed (missing, or in another status).
    lost: usize,
    /// Completed with another output than the input says.
    wrong: usize,
    children: usize,
    children_completed: usize,
    runs: usize,
    recorded: usize,
    rerun_after_interruption: usize,
    recorded_repeated: usize,
    /// (entity, what it holds, what it must hold)
    totals: Vec<(String, i64, i64)>,
    per_instance_counters: (usize, usize),
    problems: Vec<String>,
}

impl Outcome {
    async fn check(store: &dyn Store, jobs: &[Job], run_log: &str) -> Outcome {
        let mut outcome = Outcome::default();
        outcome.check_instances(store, jobs).await;
        outcome.check_runs(store, run_log).await;
        outcome.check_entities(store, jobs).await;
        outcome
    }

    /// Every instance completed, with the output computed from its input.
    async fn check_instances(&mut self, store: &dyn Store, jobs: &[Job]) {
        let mut locks = Vec::new();
        for job in jobs {
            self.started += 1;
            let entry = self
                .by_kind
                .entry((job.kind, lang_name(job.lang)))
                .or_default();
            entry.0 += 1;
            let record = store.instance(&job.id).await.expect("reading an instance");
            let Some(record) = record.filter(|r| r.status == RuntimeStatus::Completed) else {
                self.lost += 1;
                self.problems.push(format!(
                    "{} did not complete: {:?}",
                    job.id,
                    store.instance(&job.id).await
                ));
                continue;
            };
            let got = output(&record);
            match job.expected() {
                Some(expected) if got != expected => {
                    self.wrong += 1;
                    self.problems.push(format!(
                        "{} completed with {got}, expected {expected}",
                        job.id
                    ));
                    continue;
                }
                Some(_) => {}
                None => locks.push(got.as_i64().unwrap_or(-1)),
            }
            self.completed += 1;
            entry.1 += 1;
        }
        locks.sort_unstable();
        let expected: Vec<i64> = (1..=locks.len() as i64).collect();
        if locks != expected {
            self.problems.push(format!(
                "the critical sections read {locks:?}, expected each of 1..={} once",
                expected.len()
            ));
        }
        let all = store
            .list_instances(&InstanceFilter::default())
            .await
            .expect("listing");
        for child in all.iter().filter(|r| r.parent.is_some()) {
            self.children += 1;
            if child.status == RuntimeStatus::Completed {
                self.children_completed += 1;
            } else {
                self.problems.push(format!(
                    "sub-orchestration {} did not complete: {child:?}",
                    child.instance_id
                ));
            }
        }
    }

    /// Every activity run in the run log against the results the histories record.
    async fn check_runs(&mut self, store: &dyn Store, run_log: &str) {
        // (instance, task id) -> the attempt whose result was recorded.
        let mut recorded: HashMap<(String, u32), u32> = HashMap::new();
        let all = store
            .list_instances(&InstanceFilter::default())
            .await
            .expect("listing");
        for record in &all {
            let history = store.history(&record.instance_id).await.expect("history");
            for event in &history {
                match &event.kind {
                    EventKind::TaskCompleted { task_id, result } => {
                        let attempt = serde_json::from_str::<Value>(result)
                            .ok()
                            .and_then(|r| r["attempt"].as_u64());
                        let Some(attempt) = attempt else {
                            self.problems.push(format!(
                                "{} task {task_id}: result without an attempt: {result}",
                                record.instance_id
                            ));
                            continue;
                        };
                        let key = (record.instance_id.clone(), *task_id);
                        if recorded.insert(key, attempt as u32).is_some() {
                            self.recorded_repeated += 1;
                            self.problems.push(format!(
                                "{} task {task_id} completed twice in the history",
                                record.instance_id
                            ));
                        }
                    }
                    EventKind::TaskFailed { task_id, failure } => self.problems.push(format!(
                        "{} task {task_id} failed: {failure:?}",
                        record.instance_id
                    )),
                    _ => {}
                }
            }
        }
        self.recorded = recorded.len();

        let mut runs: HashMap<(String, u32), Vec<u32>> = HashMap::new();
        for line in run_log.lines() {
            let Some(run) = parse_run(line) else {
                self.problems
                    .push(format!("a torn line in the run log: {line:?}"));
                continue;
            };
            self.runs += 1;
            runs.entry((run.instance, run.task))
                .or_default()
                .push(run.attempt);
        }
        for (key, attempts) in &runs {
            let Some(&recorded_attempt) = recorded.get(key) else {
                self.problems.push(format!(
                    "{} task {} ran (attempts {attempts:?}) but no result was recorded",
                    key.0, key.1
                ));
                continue;
            };
            let same = attempts.iter().filter(|&&a| a == recorded_attempt).count();
            let earlier = attempts.iter().filter(|&&a| a < recorded_attempt).count();
            let later = attempts.len() - same - earlier;
            self.rerun_after_interruption += earlier;
            let repeated = later + same.saturating_sub(1);
            if repeated > 0 {
                self.recorded_repeated += repeated;
                self.problems.push(format!(
                    "{} task {}: the result of attempt {recorded_attempt} was recorded, yet it \
                     ran under attempts {attempts:?}",
                    key.0, key.1
                ));
            }
        }
        for ((instance, task), attempt) in &recorded {
            if !runs.contains_key(&(instance.clone(), *task)) {
                self.problems.push(format!(
                    "{instance} task {task}: attempt {attempt} recorded, but no run logged"
                ));
            }
        }
    }

    /// Counters signalled `k` times hold `k`; the critical sections' counter holds their count.
    async fn check_entities(&mut self, store: &dyn Store, jobs: &[Job]) {
        let value = async |name: &str, key: &str| -> i64 {
            let id = durable_host::types::EntityId {
                name: name.into(),
                key: key.into(),
            };
            let record = store.entity(&id).await.expect("reading an entity");
            record
                .and_then(|r| r.state)
                .map(|state| serde_json::from_str(&state).expect("a counter holds a number"))
                .unwrap_or(0)
        };
        let signals = |lang: Lang| -> i64 {
            jobs.iter()
                .filter(|j| j.kind == Kind::Signals && j.lang == lang)
                .map(|j| j.input as i64)
                .sum()
        };
        let locks = jobs.iter().filter(|j| j.kind == Kind::Lock).count() as i64;
        for (name, key, expected) in [
            ("chaos_counter", "total", signals(Lang::Rust)),
            ("chaos_counter_py", "total", signals(Lang::Python)),
            ("chaos_counter", "locked", locks),
        ] {
            let got = value(name, key).await;
            self.totals.push((format!("{name}@{key}"), got, expected));
            if got != expected {
                self.problems
                    .push(format!("{name}@{key} holds {got}, expected {expected}"));
            }
        }
        for job in jobs.iter().filter(|j| j.kind == Kind::Signals) {
            self.per_instance_counters.1 += 1;
            let got = value(job.counter(), &job.id).await;
            if got == job.input as i64 {
                self.per_instance_counters.0 += 1;
            } else {
                self.problems.push(format!(
                    "{}@{} holds {got}, expected {}",
                    job.counter(),
                    job.id,
                    job.input
                ));
            }
        }
    }

    fn summary(
        &self,
        seed: u64,
        cycles: usize,
        faults_with_work: usize,
        times: &CycleTimes,
        drain: Duration,
        total: Duration,
    ) -> String {
        let mut out = format!(
            "chaos summary (seed {seed}, {cycles} cycles, {faults_with_work} faults with \
             instances unfinished)\n"
        );
        out += "  kind      lang    started  completed\n";
        for ((kind, lang), (started, completed)) in &self.by_kind {
            out += &format!(
                "  {:<9} {lang:<7} {started:>7}  {completed:>9}\n",
                kind.name()
            );
        }
        let mut rows = vec![
            (
                "instances completed with the right output".to_owned(),
                format!("{} of {}", self.completed, self.started),
            ),
            ("instances lost".into(), self.lost.to_string()),
            (
                "instances with a wrong output".into(),
                self.wrong.to_string(),
            ),
            (
                "sub-orchestrations completed".into(),
                format!("{} of {}", self.children_completed, self.children),
            ),
            (
                "activity runs / results recorded".into(),
                format!("{} / {}", self.runs, self.recorded),
            ),
            (
                "re-runs after interruption".into(),
                self.rerun_after_interruption.to_string(),
            ),
            (
                "recorded steps executed again".into(),
                self.recorded_repeated.to_string(),
            ),
        ];
        for (entity, got, expected) in &self.totals {
            rows.push((entity.clone(), format!("{got} (expected {expected})")));
        }
        let (exact, counters) = self.per_instance_counters;
        rows.extend([
            (
                "per-instance counters exact".into(),
                format!("{exact} of {counters}"),
            ),
            (
                "time per cycle".into(),
                format!(
                    "mean {:.2?}, p50 {:.2?}, max {:.2?}",
                    times.mean, times.p50, times.max
                ),
            ),
            (
                "final host until all done".into(),
                format!("{drain:.2?}; whole run {total:.1?}"),
            ),
        ]);
        for (label, value) in rows {
            out += &format!("  {label:<42} {value}\n");
        }
        out
    }
}

/// Mean, median and maximum of the cycles' durations.
struct CycleTimes {
    mean: Duration,
    p50: Duration,
    max: Duration,
}

impl CycleTimes {
    fn of(times: &[Duration]) -> CycleTimes {
        let mut sorted = times.to_vec();
        sorted.sort_unstable();
        let n = sorted.len().max(1) as u32;
        CycleTimes {
            mean: sorted.iter().sum::<Duration>() / n,
            p50: sorted.get(sorted.len() / 2).copied().unwrap_or_default(),
            max: sorted.last().copied().unwrap_or_default(),
        }
    }
}
