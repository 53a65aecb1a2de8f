//! Crash recovery with a real process: `durable serve` is killed (SIGKILL) in the middle of a
//! chain of activities and started again on the same database. Nothing recorded is lost, no
//! recorded activity runs again, and the activity that was in flight is retried at once: the
//! restarted host sees that the killed one is gone, without waiting for its leases. The same
//! test runs the Rust `slow_chain` (probe guest) and the Python one (Python conformance guest).

use crate::process::{Durable, LONG_LEASES, Serve};
use crate::support::*;
use durable_host::store::Store;
use durable_host::types::{EventKind, HistoryEvent, RuntimeStatus};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

const ID: &str = "crash-1";

/// `durable serve` of `component` whose `slow_step` takes `slow_step_ms`, with `leases`.
fn serve_with(
    durable: &Durable,
    log: &str,
    component: &Path,
    slow_step_ms: u64,
    leases: [&str; 4],
) -> Serve {
    let mut args = vec!["--component".into(), component.into()];
    let env = [format!("SLOW_STEP_MS={slow_step_ms}")];
    args.extend(durable.serve_args_with_leases(&env, leases));
    durable.serve(log, args)
}

/// `durable serve` of `component` with leases far longer than the tests' bounds
/// ([`LONG_LEASES`]): a restarted host must see that the killed one is gone and take its work
/// over at once, not wait for its leases.
fn serve(durable: &Durable, log: &str, component: &Path) -> Serve {
    serve_with(durable, log, component, 300, LONG_LEASES)
}

/// How many times `slow_step` ran `step` for the instance, by its run log.
fn runs(durable: &Durable, step: u64) -> usize {
    let log = std::fs::read_to_string(durable.path("data").join("runs.log")).unwrap_or_default();
    log.lines()
        .filter(|line| *line == format!("{ID} {step}"))
        .count()
}

/// The steps (1..=5) whose results the history records.
fn completed_steps(history: &[HistoryEvent]) -> BTreeSet<u64> {
    history
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::TaskCompleted { result, .. } => {
                Some(result.parse::<u64>().expect("slow_step returns a number") / 10)
            }
            _ => None,
        })
        .collect()
}

/// Polls (bounded) until `done` holds for the instance's history.
async fn history_until(
    store: &dyn Store,
    serve: &mut Serve,
    within: Duration,
    done: impl Fn(&[HistoryEvent]) -> bool,
) -> Vec<HistoryEvent> {
    let deadline = Instant::now() + within;
    loop {
        let history = store.history(ID).await.expect("history");
        if done(&history) {
            return history;
        }
        serve.assert_running();
        assert!(
            Instant::now() < deadline,
            "{ID} did not get there within {within:?}; history: {history:#?}\nserve log:\n{}",
            serve.log_text()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Deploys `component`, starts `slow_chain` as [`ID`] on a `durable serve` of it, and returns
/// that server and a handle on its database once two steps are recorded.
async fn chain_with_two_steps_recorded(
    durable: &Durable,
    component: &Path,
) -> (Serve, Arc<dyn Store>) {
    durable.deploy(component);
    let mut host = serve(durable, "serve-1.log", component);
    let started = durable.run(["start", "slow_chain", "--id", ID]);
    assert_eq!(started.ok().trim(), ID);
    let store = durable.db.store();
    history_until(&*store, &mut host, Duration::from_secs(60), |h| {
        count(h, "TaskCompleted") >= 2
    })
    .await;
    (host, store)
}

per_language!(a_killed_host_resumes_without_repeating_recorded_activities: rust, python);

/// The guest offering `slow_chain` and `slow_step`: the probe, or the Python conformance guest.
fn slow_chain_guest(lang: Lang) -> PathBuf {
    match lang {
        Lang::Rust => guest("probe"),
        _ => lang.conformance_guest(),
    }
}

/// Runs `slow_chain` under `durable serve`, kills the server after two steps are recorded,
/// restarts it, and checks the outcome and which steps ran how often.
async fn a_killed_host_resumes_without_repeating_recorded_activities(lang: Lang) {
    let component = slow_chain_guest(lang);
    let component = component.as_path();
    let durable = Durable::new();
    let (mut first, store) = chain_with_two_steps_recorded(&durable, component).await;
    first.kill();
    let before_kill = store.history(ID).await.expect("history");
    let recorded = completed_steps(&before_kill);
    assert!(recorded.len() >= 2, "{before_kill:#?}");
    assert!(
        recorded.len() < 5,
        "the kill came before the end: {before_kill:#?}"
    );
    assert!(
        store.instance(ID).await.unwrap().unwrap().status == RuntimeStatus::Running,
        "not finished at the kill"
    );

    // The bound is generous for a loaded machine, and far below the leases: the restarted
    // host takes over the dead host's work because it is gone, not because its leases ran out.
    let killed = Instant::now();
    let mut second = serve(&durable, "serve-2.log", component);
    history_until(&*store, &mut second, Duration::from_secs(60), |h| {
        h.len() > before_kill.len()
    })
    .await;
    eprintln!("kill -9 to the first resumed step: {:?}", killed.elapsed());
    let history = history_until(&*store, &mut second, Duration::from_secs(120), |h| {
        has(h, "ExecutionCompleted")
    })
    .await;
    drop(second);

    let record = store.instance(ID).await.unwrap().expect("instance");
    assert_eq!(record.status, RuntimeStatus::Completed, "{record:#?}");
    assert_eq!(output(&record), serde_json::json!([10, 20, 30, 40, 50]));
    assert_eq!(count(&history, "TaskScheduled"), 5, "{history:#?}");
    assert_eq!(count(&history, "TaskCompleted"), 5, "{history:#?}");
    assert_eq!(completed_steps(&history), (1..=5).collect());
    // What was recorded before the kill is still there, unchanged.
    assert_eq!(history[..before_kill.len()], before_kill[..]);

    let log = std::fs::read_to_string(durable.path("data").join("runs.log")).expect("runs.log");
    let runs = |step: u64| runs(&durable, step);
    for step in 1..=5 {
        if recorded.contains(&step) {
            assert_eq!(
                runs(step),
                1,
                "step {step} was recorded before the kill; runs.log:\n{log}"
            );
        } else {
            assert!(runs(step) >= 1, "step {step} never ran; runs.log:\n{log}");
        }
    }
    assert_eq!(
        log.lines().count(),
        (1..=5).map(runs).sum::<usize>(),
        "only this instance's steps: {log}"
    );
}

/// An activity that runs several times longer than its lease keeps it: the host renews it
/// while the activity runs, so neither it nor another host runs the activity again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_activity_keeps_its_short_lease() {
    let component = guest("probe");
    let durable = Durable::new();
    durable.deploy(&component);
    // Each step runs 1.5 s under a 1 s lease: without renewal every step is locked and run
    // again after 1 s.
    let leases = ["--activity-lease", "1", "--orchestration-lease", "600"];
    let mut host = serve_with(&durable, "serve.log", &component, 1500, leases);
    let started = durable.run(["start", "slow_chain", "--id", ID]);
    assert_eq!(started.ok().trim(), ID);
    let store = durable.db.store();
    history_until(&*store, &mut host, Duration::from_secs(120), |h| {
        has(h, "ExecutionCompleted")
    })
    .await;
    for step in 1..=5 {
        assert_eq!(runs(&durable, step), 1, "step {step}:\n{}", host.log_text());
    }
}

/// Two hosts on one database: the one running the chain is killed, and the other, already
/// running, takes its work over because the killed one is gone (its leases are far longer than
/// the test): the chain completes, and no recorded step ran again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_host_takes_over_the_work_of_a_killed_one() {
    let component = guest("probe");
    let durable = Durable::new();
    let (mut first, store) = chain_with_two_steps_recorded(&durable, &component).await;
    // The second host starts while the first holds the chain: it finds nothing to do.
    let mut second = serve(&durable, "serve-2.log", &component);
    first.kill();
    let recorded = completed_steps(&store.history(ID).await.expect("history"));
    assert!(recorded.len() < 5, "the kill came before the end");
    let history = history_until(&*store, &mut second, Duration::from_secs(60), |h| {
        has(h, "ExecutionCompleted")
    })
    .await;
    assert_eq!(completed_steps(&history), (1..=5).collect());
    for step in recorded {
        assert_eq!(
            runs(&durable, step),
            1,
            "step {step} was recorded before the kill"
        );
    }
    assert!(
        second
            .log_text()
            .contains("a host on this database is gone"),
        "{}",
        second.log_text()
    );
}
