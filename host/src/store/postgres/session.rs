//! The session a handle keeps with the server beside its pool: it hears other hosts' commits
//! (`LISTEN`/`NOTIFY`), announces the handle's own, and, once the handle takes leases, holds
//! the advisory lock that tells every other host this one is alive.
//!
//! A commit is announced after it returns, by one `NOTIFY` on the session for every commit made
//! since the last one went out ([`Session::announce`]), never inside the committing
//! transaction: PostgreSQL takes a database-wide lock when a transaction that notified
//! commits, and holds it through the commit's WAL flush, so transactions that notify commit
//! one at a time, each with a flush of its own (measured: 12 flushes and 73 five-activity
//! chains a second, where the same commits without it share their flushes). A host that dies
//! between a commit and its announcement leaves the work to be found by polling.
//!
//! A host's liveness is a session-level advisory lock on a key of its own, recorded with its
//! lock-token prefix in the `hosts` table; the server drops the lock when the session ends,
//! however the process ended. A host whose row's lock can be taken is gone, and its leases
//! are released ([`release_dead_hosts`]). A live host whose session broke (the server
//! restarted, the network failed) looks gone too until it reconnects: its leases may be
//! released, and its commits then fail with `LeaseLost` and are redone, never written twice.
//!
//! The session reconnects by itself with back-off; while it is down, hosts find work by
//! polling, and when it is back the commit counter moves once (commits may have been missed).
//! It connects before the handle is returned, so a handle hears every commit made after.

use super::*;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;
use tokio::sync::watch;
use tokio_postgres::AsyncMessage;

/// The first wait before reconnecting; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// A handle's session; it ends (and its lock is released) when dropped.
pub(super) struct Session {
    shared: Arc<Shared>,
    commits: watch::Receiver<u64>,
    task: tokio::task::JoinHandle<()>,
    /// Sends the announcements ([`Session::announce`]).
    announcer: tokio::task::JoinHandle<()>,
}

/// What the handle and the session's task share.
struct Shared {
    config: tokio_postgres::Config,
    /// The channel every handle on this schema notifies and listens on.
    channel: String,
    /// This handle's lock-token prefix; its own notifications carry it and are not news.
    nonce: String,
    /// The advisory lock key that says this handle is alive.
    lock_key: i64,
    /// Set once the handle takes leases: from then on every session registers.
    registered: AtomicBool,
    /// The connected session's client; `None` while reconnecting.
    client: std::sync::Mutex<Option<Arc<Client>>>,
    commits: watch::Sender<u64>,
    /// Woken after each commit to announce; wakings while one announcement is out fold into
    /// the next.
    announce: tokio::sync::Notify,
}

type Connection =
    tokio_postgres::Connection<tokio_postgres::Socket, tokio_postgres::tls::NoTlsStream>;

impl Session {
    /// Opens the session (it listens from when this returns) and starts the task that keeps
    /// it open.
    pub(super) async fn start(
        config: tokio_postgres::Config,
        channel: String,
        nonce: String,
    ) -> StoreResult<Self> {
        let (commits_tx, commits) = watch::channel(0);
        let shared = Arc::new(Shared {
            config,
            channel,
            lock_key: lock_key(&nonce),
            nonce,
            registered: AtomicBool::new(false),
            client: std::sync::Mutex::new(None),
            commits: commits_tx,
            announce: tokio::sync::Notify::new(),
        });
        let connection = connect(&shared).await?;
        let task = tokio::spawn(keep_open(shared.clone(), connection));
        let announcer = tokio::spawn(announce_commits(shared.clone()));
        Ok(Session {
            shared,
            commits,
            task,
            announcer,
        })
    }

    /// Tells the other handles on the schema that this one committed work: soon, in one
    /// notification with the other commits made meanwhile. Call it after the commit.
    pub(super) fn announce(&self) {
        self.shared.announce.notify_one();
    }

    /// Moves when another handle on the schema commits work.
    pub(super) fn commits(&self) -> watch::Receiver<u64> {
        self.commits.clone()
    }

    /// Registers this handle as a live host, once; if the session is down, it registers when
    /// it is back. Until registered, no other host can take this one for gone.
    pub(super) async fn register(&self) {
        if self.shared.registered.swap(true, Ordering::SeqCst) {
            return;
        }
        let client = self.shared.client();
        if let Some(client) = client
            && let Err(e) = register(&client, &self.shared).await
        {
            tracing::warn!(
                "cannot register this host on PostgreSQL: {e}; it registers when its session \
                 reconnects"
            );
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // The connection closes with the task; the server releases the lock.
        self.task.abort();
        self.announcer.abort();
    }
}

impl Shared {
    fn client(&self) -> Option<Arc<Client>> {
        self.client
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn set_client(&self, client: Option<Arc<Client>>) {
        *self.client.lock().unwrap_or_else(|e| e.into_inner()) = client;
    }
}

/// Connects, listens, and registers if the handle takes leases.
async fn connect(shared: &Shared) -> StoreResult<Connection> {
    let (client, mut connection) = shared.config.connect(NoTls).await?;
    let setup = async {
        client
            .batch_execute(&format!("LISTEN {}", shared.channel))
            .await?;
        if shared.registered.load(Ordering::SeqCst) {
            register(&client, shared).await?;
        }
        StoreResult::Ok(())
    };
    // The connection must be driven for the client's requests to be answered.
    tokio::select! {
        ready = setup => ready?,
        () = forward(&mut connection, shared) => {
            return Err(StoreError::Backend("the PostgreSQL session closed".into()));
        }
    }
    shared.set_client(Some(Arc::new(client)));
    Ok(connection)
}

/// Forwards notifications until the connection breaks, then connects again after a back-off,
/// for as long as the handle lives.
async fn keep_open(shared: Arc<Shared>, mut connection: Connection) {
    loop {
        forward(&mut connection, &shared).await;
        shared.set_client(None);
        tracing::warn!("the PostgreSQL session closed; reconnecting");
        let mut backoff = FIRST_BACKOFF;
        connection = loop {
            tokio::time::sleep(backoff).await;
            match connect(&shared).await {
                Ok(connection) => break connection,
                Err(e) => {
                    tracing::warn!("cannot reopen the PostgreSQL session: {e}; retrying");
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        };
        // Commits made while the session was down were not heard.
        shared.commits.send_modify(|n| *n += 1);
    }
}

/// Sends one notification each time the handle has committed since the last one went out;
/// nothing while the session is down (the other handles' polling finds that work, and they
/// hear the next one).
async fn announce_commits(shared: Arc<Shared>) {
    loop {
        shared.announce.notified().await;
        let Some(client) = shared.client() else {
            continue;
        };
        // Typed parameters: one round trip, where a prepared statement took a prepare and an
        // execute for every announcement.
        let text = tokio_postgres::types::Type::TEXT;
        let sent = client
            .query_typed(
                "SELECT pg_notify($1, $2)",
                &[(&shared.channel, text.clone()), (&shared.nonce, text)],
            )
            .await;
        if let Err(e) = sent {
            tracing::debug!("cannot announce a commit: {}", StoreError::from(e));
        }
    }
}

/// Drives the connection, moving the commit counter for every other handle's notification,
/// until it closes.
async fn forward(connection: &mut Connection, shared: &Shared) {
    while let Some(message) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
        match message {
            Ok(AsyncMessage::Notification(n)) if n.payload() != shared.nonce => {
                shared.commits.send_modify(|n| *n += 1);
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!("the PostgreSQL session failed: {}", StoreError::from(e));
                return;
            }
        }
    }
}

/// Takes this handle's advisory lock on the session, then records it in `hosts` (in that
/// order: a row whose lock is free means a host that is gone).
async fn register(client: &Client, shared: &Shared) -> StoreResult<()> {
    client
        .execute("SELECT pg_advisory_lock($1)", &[&shared.lock_key])
        .await?;
    client
        .execute(
            "INSERT INTO hosts (nonce, lock_key, registered_at) VALUES ($1, $2, $3) \
             ON CONFLICT (nonce) DO NOTHING",
            &[&shared.nonce, &shared.lock_key, &(now_ms() as i64)],
        )
        .await?;
    Ok(())
}

/// The advisory lock key of a handle: 64 bits of a digest of its nonce, so keys of hosts on
/// one server (any database schema) do not meet.
fn lock_key(nonce: &str) -> i64 {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("durable host {nonce}").as_bytes());
    i64::from_be_bytes(digest[..8].try_into().expect("8 bytes"))
}

/// The channel the handles on `schema` notify: `durable_<schema>`, or a digest of it where
/// that would be longer than PostgreSQL's 63-byte names.
pub(super) fn channel_name(schema: &str) -> String {
    let plain = format!("durable_{schema}");
    if plain.len() <= 63
        && schema
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        return plain;
    }
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(schema.as_bytes());
    let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
    format!("durable_{hex}")
}

/// Releases the leases of every host in `hosts` but `me` whose advisory lock is free (its
/// session ended), and forgets it. Returns how many leases were released. When every host is
/// alive, one query.
pub(super) async fn release_dead_hosts(store: &PostgresStore, me: &str) -> StoreResult<usize> {
    let candidates: Vec<(String, i64)> = {
        let client = store.read().await?;
        // The lock is held for the statement only: a candidate may be back by the time its
        // leases are released, which the transaction below checks again.
        client
            .query(
                "SELECT nonce, lock_key FROM hosts \
                 WHERE nonce <> $1 AND pg_try_advisory_xact_lock(lock_key)",
                &[&me],
            )
            .await?
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect::<StoreResult<_>>()?
    };
    let mut released = 0;
    for (nonce, key) in candidates {
        let prefix = format!("{nonce}/");
        let taken = store
            .write_quiet(async |tx| {
                // Held to the commit: the host cannot register again halfway through.
                let gone: bool = tx
                    .query_one("SELECT pg_try_advisory_xact_lock($1)", &[&key])
                    .await?
                    .try_get(0)?;
                if !gone {
                    return Ok(None);
                }
                let mut released = 0;
                for table in ["instances", "activities", "entities"] {
                    released += tx
                        .execute(
                            &format!(
                                "UPDATE {table} SET lock_token = NULL, lock_expires = 0 \
                                 WHERE starts_with(lock_token, $1)"
                            ),
                            &[&prefix],
                        )
                        .await? as usize;
                }
                tx.execute("DELETE FROM hosts WHERE nonce = $1", &[&nonce])
                    .await?;
                Ok(Some(released))
            })
            .await?;
        if let Some(taken) = taken {
            tracing::info!(host = %nonce, "a host on this database is gone; its leases are released");
            released += taken;
        }
    }
    Ok(released)
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
