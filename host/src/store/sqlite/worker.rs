//! The writer thread and its group commit: every request queued while the previous commit
//! was syncing runs in its own savepoint (so one failing request rolls back alone), and they
//! commit together with one fsync. Reads run on a thread of their own.
//!
//! A group none of whose requests is sure to need a sync ([`Job::durable`] false) commits
//! without an fsync even on a `synchronous=FULL` file (SQLite refuses to change `synchronous`
//! inside a transaction, so this is decided before it begins). Such requests are:
//! - taking or renewing a lease. Losing one to a power cut is as if it had never been taken:
//!   the work is taken again;
//! - an activity's result that claims the turn it wakes. Its commit needs no fsync when the
//!   claim succeeds: the turn runs at once on this host and its commit (or abandonment) is
//!   synced. Losing both to a power cut leaves the task to run again, as if the result and
//!   the turn had been one transaction. When the claim fails, the request says so as it runs
//!   ([`Reply::durable`]), and the writer syncs the log before it answers
//!   ([`sync_log`]).
//!
//! Nothing unsynced can outlive what follows it: WAL frames are appended in order and every
//! synced commit fsyncs the whole log, so a power cut loses at most the unsynced commits made
//! after the last synced one. A process crash loses nothing either way (the log is in the
//! operating system's cache).

use super::*;
use std::time::{Duration, Instant};

/// One request to a worker.
pub(super) struct Job {
    pub(super) run: Box<dyn FnOnce(&Connection) -> Reply + Send>,
    /// Whether its write is sure to need a sync before it is answered (every write but taking
    /// and renewing leases and a result that claims its turn).
    pub(super) durable: bool,
}

/// A request's outcome, held until its transaction commits.
pub(super) struct Reply {
    pub(super) ok: bool,
    /// Whether what it wrote must reach the disk before it is answered, as it turned out
    /// (true whenever [`Job::durable`] was).
    pub(super) durable: bool,
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

/// How a group's transaction ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Committed {
    /// It did not commit: every request was answered with the error.
    No,
    /// It committed with an fsync (or on a file that never syncs).
    Synced,
    /// It committed without an fsync on a `synchronous=FULL` file: no request needed one.
    Unsynced,
    /// It committed without an fsync, then a request turned out to need one, and the log was
    /// synced before any was answered.
    SyncedAfter,
}

/// Runs `jobs` in one transaction; on a `full` file, one none of whose requests is sure to
/// need a sync ([`Job::durable`]) commits without an fsync, and the log is synced after it
/// if a request turned out to need it ([`Reply::durable`]). Answers every request once what
/// it wrote is as durable as it needs.
pub(super) fn run_group(conn: &Connection, jobs: Vec<Job>, full: bool) -> Committed {
    let started = std::time::Instant::now();
    let requests = jobs.len();
    // Unsynced only if SQLite took the setting: what is counted and answered as unsynced is
    // what happened, not what was meant.
    let unsynced = full
        && jobs.iter().all(|job| !job.durable)
        && exec(conn, "PRAGMA synchronous = NORMAL")
            .inspect_err(|e| tracing::error!("cannot set synchronous=NORMAL: {e}; syncing"))
            .is_ok();
    let (replies, outcome) = run_transaction(conn, jobs);
    if unsynced && let Err(e) = exec(conn, "PRAGMA synchronous = FULL") {
        // Nothing may commit unsynced by mistake: stop the writer (every later request
        // fails) rather than go on.
        panic!("cannot set synchronous=FULL again after an unsynced commit: {e}");
    }
    let committed = outcome.is_none();
    crate::metrics::store_commit("sqlite", requests, committed, started.elapsed());
    let mut ended = match (committed, unsynced) {
        (false, _) => Committed::No,
        (true, true) => Committed::Unsynced,
        (true, false) => Committed::Synced,
    };
    if ended == Committed::Unsynced {
        crate::metrics::store_commit_unsynced("sqlite");
        // A request that failed rolled back to its savepoint: it wrote nothing to sync.
        if replies.iter().any(|reply| reply.ok && reply.durable) {
            sync_log(conn);
            ended = Committed::SyncedAfter;
        }
    }
    for reply in replies {
        (reply.deliver)(outcome.clone());
    }
    ended
}

/// Syncs the log, and with it every commit before: a transaction that rewrites the schema
/// version with its own value, committed with `synchronous=FULL` (a commit that writes
/// nothing syncs nothing). A failure is logged: what was committed stays committed, and the
/// next synced commit syncs it.
fn sync_log(conn: &Connection) {
    let started = std::time::Instant::now();
    let synced = (|| {
        exec(conn, "BEGIN IMMEDIATE")?;
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        conn.execute_batch(&format!("PRAGMA user_version = {version}"))?;
        exec(conn, "COMMIT")
    })();
    if let Err(e) = &synced {
        tracing::error!("cannot sync the SQLite log: {e}");
        let _ = exec(conn, "ROLLBACK");
    }
    crate::metrics::store_commit("sqlite", 0, synced.is_ok(), started.elapsed());
}

/// Runs `jobs` in one transaction, each in its savepoint; their replies, and the error that
/// kept the transaction from committing, if one did.
fn run_transaction(conn: &Connection, jobs: Vec<Job>) -> (Vec<Reply>, Option<String>) {
    if let Err(e) = exec(conn, "BEGIN IMMEDIATE") {
        // Run nothing: dropping a job drops its reply channel, and its
        // caller gets a backend error.
        tracing::error!("cannot begin a SQLite transaction: {e}");
        return (Vec::new(), Some(e.to_string()));
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
    (replies, outcome)
}

/// Runs one statement of the group's own (begin, savepoints, commit), prepared once per
/// connection: parsing them at every commit showed in profiles.
fn exec(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A job that writes a row, declared `durable` or not, that fails after writing (`ok`
    /// false) or says whether its write turned out to need a sync (`needs`); it reports the
    /// `synchronous` level its transaction commits with (2 FULL, 1 NORMAL) to `seen`.
    fn writing(durable: bool, ok: bool, needs: bool, seen: mpsc::Sender<i64>) -> Job {
        let run = Box::new(move |conn: &Connection| {
            conn.execute("INSERT INTO t VALUES (1)", []).unwrap();
            seen.send(synchronous(conn)).unwrap();
            Reply {
                ok,
                durable: durable || needs,
                deliver: Box::new(|_| {}),
            }
        });
        Job { run, durable }
    }

    fn synchronous(conn: &Connection) -> i64 {
        conn.query_row("PRAGMA synchronous", [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn a_group_commits_unsynced_only_when_no_request_needs_a_sync() {
        let dir = tempfile::tempdir().unwrap();
        let conn = Connection::open(dir.path().join("durable.db")).unwrap();
        configure(&conn, Durability::Full).unwrap();
        conn.execute_batch("CREATE TABLE t (x); PRAGMA user_version = 7")
            .unwrap();
        // How the group ended, and the level its transaction ran with.
        let group = |jobs: &[(bool, bool, bool)]| {
            let (tx, seen) = mpsc::channel();
            let jobs = (jobs.iter())
                .map(|&(d, ok, n)| writing(d, ok, n, tx.clone()))
                .collect();
            let committed = run_group(&conn, jobs, true);
            let mut levels: Vec<i64> = seen.try_iter().collect();
            levels.dedup();
            (committed, levels)
        };
        assert_eq!(
            group(&[(false, true, false)]),
            (Committed::Unsynced, vec![1])
        );
        assert_eq!(synchronous(&conn), 2, "FULL again after an unsynced commit");
        assert_eq!(
            group(&[(false, true, false), (true, true, true)]),
            (Committed::Synced, vec![2]),
            "one durable request makes the group durable"
        );
        assert_eq!(
            group(&[(false, true, false), (false, true, true)]),
            (Committed::SyncedAfter, vec![1]),
            "a request that turned out to need a sync gets one after the commit"
        );
        assert_eq!(
            group(&[(false, true, false), (false, false, true)]),
            (Committed::Unsynced, vec![1]),
            "a request that failed rolled back: nothing of it to sync"
        );
        let rows: i64 = conn
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 6, "the failed request's row was rolled back");
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, 7, "syncing the log keeps the schema version");
        // A file opened with `--durability normal` never syncs a commit of its own.
        configure(&conn, Durability::Normal).unwrap();
        let (tx, _seen) = mpsc::channel();
        let jobs = vec![writing(false, true, true, tx)];
        assert_eq!(run_group(&conn, jobs, false), Committed::Synced);
        assert_eq!(synchronous(&conn), 1, "a NORMAL file stays NORMAL");
    }
}
