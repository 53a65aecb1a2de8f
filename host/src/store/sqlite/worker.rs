//! The writer thread and its group commit: every request queued while the previous commit
//! was syncing runs in its own savepoint (so one failing request rolls back alone), and they
//! commit together with one fsync. Reads run on a thread of their own.

use super::*;
use std::time::{Duration, Instant};

pub(super) type Job = Box<dyn FnOnce(&Connection) -> Reply + Send>;

/// A request's outcome, held until its transaction commits.
pub(super) struct Reply {
    pub(super) ok: bool,
    pub(super) deliver: Box<dyn FnOnce(Option<String>) + Send>,
}

/// Largest number of requests folded into one commit.
pub(super) const MAX_GROUP: usize = 512;

/// How often the writer looks for commits made by other connections.
const WATCH_INTERVAL: Duration = Duration::from_millis(20);

/// What a worker thread does.
pub(super) enum Role {
    /// Runs each job alone, in no transaction of its own (reads).
    Reader,
    /// Groups jobs into transactions, and bumps `external` whenever another connection (another
    /// process, another handle) has committed: `PRAGMA data_version` on this connection moves
    /// only then, so the writer's own commits never count.
    Writer {
        /// Bumped on every commit seen from elsewhere.
        external: watch::Sender<u64>,
    },
}

/// Runs jobs as `role` says.
pub(super) fn spawn_worker(name: &str, conn: Connection, role: Role) -> mpsc::Sender<Job> {
    let (tx, rx) = mpsc::channel::<Job>();
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            let Role::Writer { external } = role else {
                while let Ok(job) = rx.recv() {
                    (job(&conn).deliver)(None);
                }
                return;
            };
            let mut seen = data_version(&conn);
            let mut looked = Instant::now();
            loop {
                let first = match rx.recv_timeout(WATCH_INTERVAL) {
                    Ok(job) => Some(job),
                    Err(mpsc::RecvTimeoutError::Timeout) => None,
                    Err(mpsc::RecvTimeoutError::Disconnected) => break,
                };
                // At most once per interval, busy or idle: no cost per commit.
                if looked.elapsed() >= WATCH_INTERVAL {
                    looked = Instant::now();
                    let version = data_version(&conn);
                    if version != seen {
                        seen = version;
                        external.send_modify(|n| *n = n.wrapping_add(1));
                    }
                }
                let Some(first) = first else { continue };
                let mut jobs = vec![first];
                while jobs.len() < MAX_GROUP {
                    match rx.try_recv() {
                        Ok(job) => jobs.push(job),
                        Err(_) => break,
                    }
                }
                run_group(&conn, jobs);
            }
        })
        .expect("spawning the SQLite worker thread");
    tx
}

/// `PRAGMA data_version`: moves when another connection commits.
fn data_version(conn: &Connection) -> Option<i64> {
    conn.query_row("PRAGMA data_version", [], |r| r.get(0)).ok()
}

pub(super) fn run_group(conn: &Connection, jobs: Vec<Job>) {
    let started = std::time::Instant::now();
    let requests = jobs.len();
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        // Run nothing: dropping a job drops its reply channel, and its
        // caller gets a backend error.
        tracing::error!("cannot begin a SQLite transaction: {e}");
        return;
    }
    let mut replies = Vec::with_capacity(jobs.len());
    let mut failed = None;
    for job in jobs {
        // Without its savepoint a failing request could not roll back
        // alone, so the whole group is abandoned instead.
        if let Err(e) = conn.execute_batch("SAVEPOINT job") {
            failed = Some(format!("cannot open a SQLite savepoint: {e}"));
            break;
        }
        let reply = job(conn);
        let end = if reply.ok {
            "RELEASE job"
        } else {
            "ROLLBACK TO job; RELEASE job"
        };
        replies.push(reply);
        if let Err(e) = conn.execute_batch(end) {
            failed = Some(format!("cannot close a SQLite savepoint: {e}"));
            break;
        }
    }
    let outcome = match failed {
        Some(error) => Some(error),
        None => conn.execute_batch("COMMIT").err().map(|e| e.to_string()),
    };
    if let Some(error) = &outcome {
        tracing::error!("SQLite group commit failed: {error}");
        let _ = conn.execute_batch("ROLLBACK");
    }
    crate::metrics::store_commit("sqlite", requests, outcome.is_none(), started.elapsed());
    for reply in replies {
        (reply.deliver)(outcome.clone());
    }
}
