//! Seeing inside a running `durable serve`: its Prometheus metrics (`GET /metrics`), scraped
//! during a real run and checked against the work done, and its JSON log lines.

use crate::process::Durable;
use crate::support::{Lang, guest};
use durable_host::http::BASE_PATH;
use std::collections::HashMap;
use std::time::{Duration, Instant};

const KEY: &str = "metrics-key";

/// One scrape: every sample by its series (`name{labels}` as printed), and the `# HELP` lines.
struct Scrape {
    samples: HashMap<String, f64>,
    text: String,
}

impl Scrape {
    fn parse(text: String) -> Scrape {
        let samples = text
            .lines()
            .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
            .map(|line| {
                let (series, value) = line.rsplit_once(' ').expect("`series value`");
                let value = value
                    .parse()
                    .unwrap_or_else(|_| panic!("a number in `{line}`"));
                (series.to_owned(), value)
            })
            .collect();
        Scrape { samples, text }
    }

    /// The sample of `series` (0 when absent: a counter nothing moved yet).
    fn get(&self, series: &str) -> f64 {
        self.samples.get(series).copied().unwrap_or(0.0)
    }

    /// The sum of every series of metric `name` (all its label values).
    fn sum(&self, name: &str) -> f64 {
        self.samples
            .iter()
            .filter(|(series, _)| {
                series.as_str() == name || series.starts_with(&format!("{name}{{"))
            })
            .map(|(_, v)| v)
            .sum()
    }
}

struct Api {
    origin: String,
    http: reqwest::Client,
}

impl Api {
    async fn scrape(&self) -> Scrape {
        let response = self
            .http
            .get(format!("{}/metrics", self.origin))
            .header("x-functions-key", KEY)
            .send()
            .await
            .expect("GET /metrics");
        assert_eq!(response.status(), 200);
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            content_type.starts_with("text/plain; version=0.0.4"),
            "{content_type}"
        );
        Scrape::parse(response.text().await.unwrap())
    }

    /// Starts `n` chains and waits until every one has completed.
    async fn run_chains(&self, n: usize) {
        let mut ids = Vec::new();
        for _ in 0..n {
            let started: serde_json::Value = self
                .http
                .post(format!(
                    "{}{BASE_PATH}/orchestrators/hello_sequence",
                    self.origin
                ))
                .header("x-functions-key", KEY)
                .json(&serde_json::Value::Null)
                .send()
                .await
                .expect("start")
                .json()
                .await
                .expect("a check-status payload");
            ids.push(started["id"].as_str().expect("an id").to_owned());
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        for id in ids {
            loop {
                let status: serde_json::Value = self
                    .http
                    .get(format!("{}{BASE_PATH}/instances/{id}", self.origin))
                    .header("x-functions-key", KEY)
                    .send()
                    .await
                    .expect("status")
                    .json()
                    .await
                    .expect("a status");
                if status["runtimeStatus"] == "Completed" {
                    break;
                }
                assert!(Instant::now() < deadline, "{id} never completed: {status}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_the_work_of_a_run() {
    let durable = Durable::new();
    let component = Lang::Rust.example("hello_sequence");
    let (mut serve, origin) = durable.serve_listening(
        "serve.log",
        ["--component", component.to_str().unwrap(), "--api-key", KEY],
    );
    let api = Api {
        origin,
        http: reqwest::Client::new(),
    };
    let anonymous = api
        .http
        .get(format!("{}/metrics", api.origin))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401, "the API's keys guard /metrics");

    // Four chains of three activities, in a fresh process: the counters hold exactly them.
    api.run_chains(4).await;
    let first = api.scrape().await;
    serve.assert_running();
    assert_eq!(first.get(r#"durable_instances{status="Completed"}"#), 4.0);
    assert_eq!(first.get(r#"durable_instances{status="Running"}"#), 0.0);
    assert_eq!(
        first.get(r#"durable_turns_finished_total{outcome="completed"}"#),
        4.0
    );
    assert_eq!(first.get("durable_activities_started_total"), 12.0);
    assert_eq!(
        first.get(r#"durable_activities_finished_total{outcome="completed"}"#),
        12.0
    );
    assert_eq!(first.get("durable_activity_duration_seconds_count"), 12.0);
    let turns = first.get("durable_turns_started_total");
    assert!(
        turns >= 4.0 * 2.0,
        "at least a start and a last turn each: {turns}"
    );
    assert_eq!(first.sum("durable_turns_finished_total"), turns);
    assert_eq!(first.get("durable_turn_duration_seconds_count"), turns);
    // Each instance's first turn starts a guest (a cold start of an empty history); the
    // others find it live in the cache.
    assert_eq!(first.get("durable_cache_misses_total"), 4.0);
    assert_eq!(first.get("durable_cache_hits_total"), turns - 4.0);
    assert_eq!(first.get("durable_cold_replays_total"), 4.0);
    assert_eq!(first.get("durable_cold_replay_events_total"), 0.0);
    assert_eq!(
        first.get(r#"durable_guest_instantiations_total{kind="orchestrator"}"#),
        4.0,
        "one guest instance per orchestration"
    );
    // Every turn and every activity result is a write carried by some commit.
    let commits = first.get(r#"durable_store_commits_total{backend="sqlite"}"#);
    let requests = first.get(r#"durable_store_commit_requests_sum{backend="sqlite"}"#);
    assert!(
        commits >= 1.0 && requests >= turns + 12.0,
        "{commits} commits of {requests}"
    );
    assert!(first.sum("durable_component_loads_total") >= 1.0);
    assert!(
        first.get("durable_guest_memory_bytes") > 0.0,
        "warm activity instances"
    );
    // The four orchestrators' instances are gone and their pool slots keep the pages they
    // wrote for the next ones; the gauge says so from the next poll interval on.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let kept = api.scrape().await;
        if kept.get("durable_pool_free_slots_resident_bytes") > 0.0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no free slot keeps anything:\n{}",
            kept.text
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(first.get("durable_ready_messages"), 0.0);
    assert_eq!(first.get("durable_ready_activities"), 0.0);
    assert_eq!(first.get("durable_timer_lag_seconds"), 0.0);
    for described in [
        "# HELP durable_turns_started_total",
        "# HELP durable_store_commit_duration_seconds",
        "# HELP durable_instances",
        "# TYPE durable_turn_duration_seconds histogram",
    ] {
        assert!(
            first.text.contains(described),
            "{described} missing:\n{}",
            first.text
        );
    }

    // Two more: the counters move by exactly their work.
    api.run_chains(2).await;
    let second = api.scrape().await;
    let moved = |series: &str| second.get(series) - first.get(series);
    assert_eq!(second.get(r#"durable_instances{status="Completed"}"#), 6.0);
    assert_eq!(
        moved(r#"durable_activities_finished_total{outcome="completed"}"#),
        6.0
    );
    assert_eq!(
        moved(r#"durable_turns_finished_total{outcome="completed"}"#),
        2.0
    );
    assert_eq!(moved("durable_cold_replays_total"), 2.0);
    assert_eq!(
        moved(r#"durable_guest_instantiations_total{kind="orchestrator"}"#),
        2.0
    );
    // Two chains run at most two activities at once, and the instances kept warm from the
    // first four serve them: six calls, at most two new instances.
    let fresh = moved(r#"durable_guest_instantiations_total{kind="activity"}"#);
    assert!(fresh <= 2.0, "{fresh} activity instances for 6 calls");

    // One chain alone: the start and the four turns are fsync'd, and nothing else. Each
    // activity's result commits unsynced, because the same commit claimed the turn it wakes
    // and that turn's fsync makes both durable.
    api.run_chains(1).await;
    let third = api.scrape().await;
    let synced = |s: &Scrape| {
        s.get(r#"durable_store_commits_total{backend="sqlite"}"#)
            - s.get(r#"durable_store_commits_unsynced_total{backend="sqlite"}"#)
    };
    assert_eq!(
        synced(&third) - synced(&second),
        5.0,
        "fsync'd commits for one chain of three activities"
    );
    serve.assert_running();
}

#[test]
fn json_logs_carry_the_instance_id() {
    let durable = Durable::new();
    let probe = guest("probe");
    let (mut serve, _) = durable.serve_listening(
        "serve.log",
        [
            "--component",
            probe.to_str().unwrap(),
            "--log-format",
            "json",
        ],
    );
    // An orchestrator that traps: the host fails the instance and logs why.
    durable.run(["start", "trap", "--id", "trapped-1"]).ok();
    let deadline = Instant::now() + Duration::from_secs(60);
    let line = loop {
        let log = serve.log_text();
        let about = log
            .lines()
            .find(|line| line.contains("trapped-1"))
            .map(str::to_owned);
        if let Some(line) = about {
            break line;
        }
        serve.assert_running();
        assert!(
            Instant::now() < deadline,
            "no log line about the instance:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let parsed: serde_json::Value =
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
    assert_eq!(parsed["fields"]["instance"], "trapped-1", "{parsed}");
    assert_eq!(parsed["level"], "INFO", "{parsed}");
    assert!(parsed["timestamp"].is_string(), "{parsed}");
    for line in serve.log_text().lines() {
        let parsed: Result<serde_json::Value, _> = serde_json::from_str(line);
        assert!(parsed.is_ok(), "every line is JSON: {line}");
    }
}
