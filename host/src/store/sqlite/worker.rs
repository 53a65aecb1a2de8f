//! The writer thread and its group commit: every request queued while the previous commit
//! was syncing runs in its own savepoint (so one failing request rolls back alone), and they
//! commit together with one fsync. Reads run on a thread of their own.
//!
//! A group of **lock writes** only (taking or renewing a lease: [`Job::durable`] false)
//! commits without an fsync even on a `synchronous=FULL` file. Losing such a commit to a power
//! cut is as if the lease had never been taken: the work is taken again. It cannot outlive
//! what follows it: WAL frames are appended in order and every durable commit fsyncs the
//! whole log, so a power cut loses at most the lock writes made after the last durable
//! commit. A process crash loses nothing either way (the log is in the operating system's
//! cache).

use super::*;
use std::time::{Duration, Instant};

/// One request to a worker.
pub(super) struct Job {
    pub(super) run: Box<dyn FnOnce(&Connection) -> Reply + Send>,
    /// Whether its commit must reach the disk before it is answered (every write but taking
    /// and renewing leases).
    pub(super) durable: bool,
}

/// A request's outcome, held until its transaction commits.
pub(super) struct Reply {
    pub(super) ok: bool,
    pub(super) deliver: Box<dyn FnOnce(Option<String>) + Send>,
}

/// Largest number of requests folded into one commit.
pub(super) const MAX_GROUP: usize = 512;

/// How often the writer looks for commits made by other connections.
const WATCH_INTERVAL: Duration = Duration::from_millis(20);

/// How long the writer polls for the next request after a commit before it sleeps. The next
/// write of a step (the lock, the result, the turn) often comes within this, and a sleeping
/// thread takes tens of microseconds to wake on a VM: one chain at a time through `durable
/// serve` took 8.1 ms at p50 without it, 6.5-7.1 with it (`durable bench --only e
/// --http-clients 1`, 2 vCPUs), and (a)'s throughput did not move. It costs at most this much
/// CPU per commit, none when idle.
const SPIN: Duration = Duration::from_micros(200);

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
        /// The file syncs every commit (`synchronous=FULL`): groups of lock writes alone are
        /// committed without.
        full: bool,
    },
}

/// Runs jobs as `role` says.
pub(super) fn spawn_worker(name: &str, conn: Connection, role: Role) -> mpsc::Sender<Job> {
    let (tx, rx) = mpsc::channel::<Job>();
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            let Role::Writer { external, full } = role else {
                while let Ok(job) = rx.recv() {
                    ((job.run)(&conn).deliver)(None);
                }
                return;
            };
            let mut seen = data_version(&conn);
            let mut looked = Instant::now();
            let mut committed = Instant::now();
            loop {
                let mut next = None;
                while next.is_none() && committed.elapsed() < SPIN {
                    next = rx.try_recv().ok();
                    std::hint::spin_loop();
                }
                let first = match next.map_or_else(|| rx.recv_timeout(WATCH_INTERVAL), Ok) {
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
                run_group(&conn, jobs, full);
                committed = Instant::now();
            }
        })
        .expect("spawning the SQLite worker thread");
    tx
}

/// `PRAGMA data_version`: moves when another connection commits.
fn data_version(conn: &Connection) -> Option<i64> {
    conn.query_row("PRAGMA data_version", [], |r| r.get(0)).ok()
}

/// Runs `jobs` in one transaction; on a `full` file, one that holds lock writes only commits
/// without an fsync.
pub(super) fn run_group(conn: &Connection, jobs: Vec<Job>, full: bool) {
    let started = std::time::Instant::now();
    let requests = jobs.len();
    let unsynced = full && jobs.iter().all(|job| !job.durable);
    if unsynced && let Err(e) = exec(conn, "PRAGMA synchronous = NORMAL") {
        tracing::error!("cannot set synchronous=NORMAL for lock writes: {e}");
    }
    let committed = run_transaction(conn, jobs);
    if unsynced && let Err(e) = exec(conn, "PRAGMA synchronous = FULL") {
        // Nothing may commit unsynced by mistake: stop the writer (every later request
        // fails) rather than go on.
        panic!("cannot set synchronous=FULL again after lock writes: {e}");
    }
    crate::metrics::store_commit("sqlite", requests, committed, started.elapsed());
    if committed && unsynced {
        crate::metrics::store_commit_unsynced("sqlite");
    }
}

/// Runs `jobs` in one transaction, each in its savepoint, and answers each; whether it
/// committed.
fn run_transaction(conn: &Connection, jobs: Vec<Job>) -> bool {
    if let Err(e) = exec(conn, "BEGIN IMMEDIATE") {
        // Run nothing: dropping a job drops its reply channel, and its
        // caller gets a backend error.
        tracing::error!("cannot begin a SQLite transaction: {e}");
        return false;
    }
    let mut replies = Vec::with_capacity(jobs.len());
    let mut failed = None;
    for job in jobs {
        // Without its savepoint a failing request could not roll back
        // alone, so the whole group is abandoned instead.
        if let Err(e) = exec(conn, "SAVEPOINT job") {
            failed = Some(format!("cannot open a SQLite savepoint: {e}"));
            break;
        }
        let reply = (job.run)(conn);
        let ok = reply.ok;
        replies.push(reply);
        let end = match ok {
            true => exec(conn, "RELEASE job"),
            false => exec(conn, "ROLLBACK TO job").and_then(|()| exec(conn, "RELEASE job")),
        };
        if let Err(e) = end {
            failed = Some(format!("cannot close a SQLite savepoint: {e}"));
            break;
        }
    }
    let outcome = match failed {
        Some(error) => Some(error),
        None => exec(conn, "COMMIT").err().map(|e| e.to_string()),
    };
    if let Some(error) = &outcome {
        tracing::error!("SQLite group commit failed: {error}");
        let _ = exec(conn, "ROLLBACK");
    }
    let committed = outcome.is_none();
    for reply in replies {
        (reply.deliver)(outcome.clone());
    }
    committed
}

/// Runs one statement of the group's own (begin, savepoints, commit), prepared once per
/// connection: parsing them at every commit showed in profiles.
fn exec(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A job reading the connection's `synchronous` setting as it runs: 2 is FULL, 1 NORMAL.
    fn reading_sync(durable: bool, seen: mpsc::Sender<i64>) -> Job {
        let run = Box::new(move |conn: &Connection| {
            let sync: i64 = conn
                .query_row("PRAGMA synchronous", [], |r| r.get(0))
                .unwrap();
            seen.send(sync).unwrap();
            Reply {
                ok: true,
                deliver: Box::new(|_| {}),
            }
        });
        Job { run, durable }
    }

    #[test]
    fn lock_writes_alone_commit_unsynced_and_anything_else_synced() {
        let dir = tempfile::tempdir().unwrap();
        let conn = Connection::open(dir.path().join("durable.db")).unwrap();
        configure(&conn, Durability::Full).unwrap();
        let (tx, seen) = mpsc::channel();
        let group = |durable: &[bool]| {
            let jobs = durable
                .iter()
                .map(|&d| reading_sync(d, tx.clone()))
                .collect();
            run_group(&conn, jobs, true);
            seen.try_iter().collect::<Vec<_>>()
        };
        assert_eq!(group(&[false, false]), [1, 1], "lock writes alone: NORMAL");
        assert_eq!(
            group(&[false, true]),
            [2, 2],
            "with one durable write: FULL"
        );
        assert_eq!(group(&[true]), [2], "FULL again after an unsynced group");
        // A file opened with `--durability normal` stays NORMAL.
        let (tx, seen) = mpsc::channel();
        configure(&conn, Durability::Normal).unwrap();
        run_group(&conn, vec![reading_sync(true, tx)], false);
        assert_eq!(seen.try_iter().collect::<Vec<_>>(), [1]);
    }
}
