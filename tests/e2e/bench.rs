//! `durable bench` as a user runs it, made small: every scenario on the test's backend (fresh
//! SQLite files, or on PostgreSQL a database per scenario, dropped after it), the chains with
//! one host and with two (this process and a `durable serve`), and through the HTTP API of a
//! `durable serve` with one client and with four. The bench checks what it
//! measures: a chain that fails or returns a wrong output fails it.

use crate::backend::{Backend, backend};
use crate::process::Durable;
use crate::support::guest;
use std::ffi::OsStr;

#[test]
fn bench_runs_every_scenario_with_one_and_two_hosts() {
    let durable = Durable::new();
    let component = guest("bench-guest");
    let bench_databases = || match backend() {
        Backend::Postgres(server) => {
            crate::backend::databases_named_like(server, "durable\\_bench\\_%")
        }
        Backend::Sqlite => Vec::new(),
    };
    let before = bench_databases();
    let out = durable.run([
        OsStr::new("bench"),
        OsStr::new("--component"),
        component.as_os_str(),
        OsStr::new("--chains"),
        OsStr::new("40"),
        OsStr::new("--hosts"),
        OsStr::new("1,2"),
        OsStr::new("--fan-out"),
        OsStr::new("50"),
        OsStr::new("--history"),
        OsStr::new("300"),
        OsStr::new("--instantiations"),
        OsStr::new("10"),
        OsStr::new("--held-instances"),
        OsStr::new("10"),
        OsStr::new("--http-chains"),
        OsStr::new("20"),
        OsStr::new("--http-clients"),
        OsStr::new("1,4"),
    ]);
    let stdout = out.ok();
    for expected in [
        "(a) rust   1 host, 40 chains x 5 activities",
        "(a) rust   2 hosts, 40 chains x 5 activities",
        "(b) rust   fan-out of 50 activities",
        "(c) 300-event history",
        "(d) rust",
        "(e) rust   front door, 1 HTTP client, 20 chains x 5 activities",
        "(e) rust   front door, 4 HTTP clients, 20 chains x 5 activities",
    ] {
        assert!(stdout.contains(expected), "no `{expected}` in:\n{stdout}");
    }
    let chains: Vec<&str> = stdout.lines().filter(|l| l.starts_with("(a)")).collect();
    assert!(
        chains.iter().all(|l| l.contains(" orchestrator and ")
            && l.contains(" activity instances created per orchestration")
            && l.contains("MiB (anonymous ")
            && l.contains(" free pool slots keep ")),
        "{chains:#?}"
    );
    // Through the front door too, the commits are counted (the server's, read over its API).
    let front: Vec<&str> = stdout.lines().filter(|l| l.starts_with("(e)")).collect();
    assert!(
        front.len() == 2
            && front
                .iter()
                .all(|l| l.contains(" commits and ") && l.contains(" per orchestration")),
        "{front:#?}"
    );
    if let Backend::Postgres(_) = backend() {
        assert!(
            stdout.contains("PostgreSQL (a database per scenario)"),
            "{stdout}"
        );
        let chains: Vec<&str> = stdout.lines().filter(|l| l.starts_with("(a)")).collect();
        assert!(
            chains
                .iter()
                .all(|l| l.contains("commits and") && l.contains("WAL flushes per orchestration")),
            "{chains:#?}"
        );
        assert!(
            stdout.contains("reading it from PostgreSQL meanwhile"),
            "{stdout}"
        );
        assert_eq!(
            bench_databases(),
            before,
            "the bench's databases are dropped"
        );
    }
}
