//! Scenario (e), the front door: chains started and awaited through the HTTP API of a real
//! `durable serve` process, as users and other engines' benchmarks drive an engine. Each of
//! `clients` concurrent clients (one HTTP connection each) posts
//! `POST /orchestrators/chain?timeout=60` (start and wait), checks the output, and starts the
//! next, until `--http-chains` have run. One client gives the latency of a chain at low load;
//! many give the throughput with the API and the client included. Latencies are measured at the
//! client, from sending the request to reading the whole answer.

use super::{Bench, BenchDb, Guest, ServeProcess, percentile, sqlite_commits};
use durable_host::http::BASE_PATH;
use std::ffi::OsStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

impl Bench {
    /// (e) `guest`'s chains through the HTTP API of a `durable serve`, with `clients` clients.
    pub(super) async fn front_door(&self, guest: &Guest, clients: u32) -> anyhow::Result<()> {
        let name = format!("front_door_{}_{clients}", guest.language);
        self.on_fresh_database(&name, async |db| {
            let component = (self.dir.path()).join(format!("bench_{}.wasm", guest.language));
            std::fs::write(&component, &guest.bytes)?;
            // A free port (released at once, for the server to take).
            let addr = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
            let cache = Self::cache_capacity(self.args.http_chains);
            let addr_arg = addr.to_string();
            let serve_args = [
                OsStr::new("--http-addr"),
                OsStr::new(&addr_arg),
                OsStr::new("--component"),
                component.as_os_str(),
            ];
            let serve = ServeProcess::start_with(&self.args, &db.arg, cache, serve_args).await?;
            let origin = format!("http://{addr}");
            let before = commits(db, &origin).await;
            let measured = self.drive(&origin, clients).await;
            let after = commits(db, &origin).await;
            serve.stop().await?;
            let (elapsed, mut latencies) = measured?;
            latencies.sort_unstable();
            let n = latencies.len() as f64;
            let commits = match before {
                Some(before) => db.per_orchestration(before, after, latencies.len() as u32),
                None => String::new(),
            };
            println!(
                "(e) {:<6} front door, {clients} HTTP client{}, {} chains x {} activities: \
                 {:.2} s, {:.0} orchestrations/s, latency p50 {:.1} ms, p99 {:.1} ms{commits}",
                guest.language,
                if clients == 1 { "" } else { "s" },
                latencies.len(),
                self.args.chain_length,
                elapsed.as_secs_f64(),
                n / elapsed.as_secs_f64(),
                percentile(&latencies, 50.0) as f64 / 1e3,
                percentile(&latencies, 99.0) as f64 / 1e3,
            );
            Ok(())
        })
        .await
    }
}

/// The commits made on `db` ([`BenchDb::counters`]): on SQLite, those of the `durable serve`
/// at `origin`, read from its `/metrics`.
async fn commits(db: &BenchDb, origin: &str) -> Option<(i64, i64)> {
    if db.postgres.is_some() {
        return db.counters().await;
    }
    let text = reqwest::get(format!("{origin}/metrics")).await.ok()?;
    Some(sqlite_commits(&text.text().await.ok()?))
}

impl Bench {
    /// Runs the chains through `origin` with `clients` clients; the time it took and each
    /// chain's latency in microseconds.
    async fn drive(&self, origin: &str, clients: u32) -> anyhow::Result<(Duration, Vec<u64>)> {
        let url = format!("{origin}{BASE_PATH}/orchestrators/chain?timeout=60");
        let length = self.args.chain_length;
        let expected = serde_json::json!(u64::from(length) * u64::from(length.saturating_sub(1)));
        let remaining = Arc::new(AtomicU32::new(self.args.http_chains));
        // One client per task: its own connection, kept alive between its requests. They are
        // made before the clock starts (making one loads the TLS roots: tens of milliseconds).
        let https = (0..clients.min(self.args.http_chains.max(1)))
            .map(|_| reqwest::Client::builder().pool_max_idle_per_host(1).build())
            .collect::<Result<Vec<_>, _>>()?;
        let started = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for http in https {
            let (url, expected, remaining) = (url.clone(), expected.clone(), remaining.clone());
            tasks.spawn(async move {
                let mut latencies = Vec::new();
                while remaining
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                    .is_ok()
                {
                    let sent = Instant::now();
                    let response = http.post(&url).json(&length).send().await?;
                    let status = response.status();
                    let output: serde_json::Value = response.json().await?;
                    latencies.push(sent.elapsed().as_micros() as u64);
                    anyhow::ensure!(
                        status == reqwest::StatusCode::OK && output == expected,
                        "a chain through the HTTP API answered {status} {output}, expected 200 \
                         {expected}"
                    );
                }
                Ok::<_, anyhow::Error>(latencies)
            });
        }
        let mut latencies = Vec::new();
        while let Some(done) = tasks.join_next().await {
            latencies.extend(done??);
        }
        Ok((started.elapsed(), latencies))
    }
}
