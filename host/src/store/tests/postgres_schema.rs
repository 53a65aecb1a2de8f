//! The PostgreSQL side of the suite: every test gets a schema of its own on the server that
//! `DURABLE_TEST_POSTGRES` names (`postgres://user@host:port/database`), so tests run in
//! parallel on one database; the schema is dropped when the test ends, passed or failed.
//! Below it, what only the PostgreSQL backend promises: handles on one schema (hosts) write
//! and lock at once without sharing work, and a schema of another version is refused.

use super::*;
use crate::store::PostgresStore;
use std::sync::atomic::{AtomicU64, Ordering};

/// The variable naming the test server.
const URL_VARIABLE: &str = "DURABLE_TEST_POSTGRES";

/// A store in a fresh schema, dropped with it.
pub(super) struct Schema {
    /// The store, its tables in the schema.
    pub(super) store: PostgresStore,
    url: String,
    name: String,
}

impl Schema {
    /// Creates a schema no other test uses and opens a store in it.
    pub(super) async fn new() -> Schema {
        let (url, name) = Self::fresh();
        Self::open(url, name).await
    }

    /// A schema loaded from `dump` (`pg_dump --inserts` of the schema `durable_fixture`),
    /// before a store is opened on it.
    async fn from_dump(dump: &str) -> Schema {
        let (url, name) = Self::fresh();
        let sql: String = dump
            .lines()
            // psql's meta-commands (`\restrict`): not SQL.
            .filter(|line| !line.starts_with('\\'))
            .map(|line| line.replace("durable_fixture", &name) + "\n")
            .collect();
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .expect("connecting");
        tokio::spawn(connection);
        client.batch_execute(&sql).await.expect("loading the dump");
        Self::open(url, name).await
    }

    /// The server's URL and a schema name no other test uses.
    fn fresh() -> (String, String) {
        let url = std::env::var(URL_VARIABLE).unwrap_or_else(|_| {
            panic!(
                "the PostgreSQL storage tests need a server: set {URL_VARIABLE}, e.g. \
                 {URL_VARIABLE}=postgres://postgres@127.0.0.1:5432/test (or build without the \
                 `postgres-tests` feature)"
            )
        });
        static COUNT: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let name = format!(
            "durable_test_{}_{nanos:x}_{}",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::Relaxed)
        );
        (url, name)
    }

    async fn open(url: String, name: String) -> Schema {
        let store = PostgresStore::connect_in_schema(&url, Some(&name))
            .await
            .unwrap_or_else(|e| panic!("connecting to {url} ({URL_VARIABLE}): {e}"));
        Schema { store, url, name }
    }

    /// Another handle on the same schema, as another host would open.
    async fn another_handle(&self) -> PostgresStore {
        PostgresStore::connect_in_schema(&self.url, Some(&self.name))
            .await
            .expect("a second handle")
    }

    /// Runs `sql` in the schema on a connection of its own.
    async fn execute(&self, sql: &str) {
        let (client, connection) = tokio_postgres::connect(&self.url, tokio_postgres::NoTls)
            .await
            .expect("connecting");
        tokio::spawn(connection);
        client
            .batch_execute(&format!("SET search_path = {}; {sql}", self.name))
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
}

impl Drop for Schema {
    /// Drops the schema on a connection of its own (on a thread of its own: a test's runtime
    /// may be unwinding from a panic).
    fn drop(&mut self) {
        let (url, name) = (self.url.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime to drop the test schema");
            runtime.block_on(async {
                let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                    .await
                    .map_err(|e| e.to_string())?;
                tokio::spawn(connection);
                client
                    .batch_execute(&format!(
                        // A connection left in a transaction by a failed test must not
                        // hang the drop.
                        "SET lock_timeout = '10s'; DROP SCHEMA IF EXISTS {name} CASCADE"
                    ))
                    .await
                    .map_err(|e| e.to_string())
            })
        })
        .join();
        if let Ok(Err(e)) | Err(e) = dropped.map_err(|_| "panicked".to_owned()) {
            eprintln!("could not drop the test schema {}: {e}", self.name);
        }
    }
}

/// Writes from many spawned tasks, on several threads and another handle, all land.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn spawned_writers_on_another_handle_all_land() {
    let schema = Schema::new().await;
    let writer = std::sync::Arc::new(schema.another_handle().await);
    let store = std::sync::Arc::new(schema.another_handle().await);
    spawned_writers_all_land(store, writer).await;
}

/// Hosts locking at once from their own handles never share an instance, and every instance
/// is locked by one of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hosts_locking_at_once_never_share_work() {
    let schema = Schema::new().await;
    for i in 0..60 {
        create(&schema.store, &format!("i{i:02}"), T0).await;
    }
    let mut tasks = tokio::task::JoinSet::new();
    for host in 0..4 {
        let store = schema.another_handle().await;
        tasks.spawn(async move {
            let mut ids = Vec::new();
            loop {
                let items = store
                    .lock_orchestrations(&format!("host-{host}"), 7, LEASE, T0)
                    .await
                    .expect("locking");
                if items.is_empty() {
                    return ids;
                }
                ids.extend(items.into_iter().map(|i| i.instance.instance_id));
            }
        });
    }
    let mut locked = Vec::new();
    while let Some(ids) = tasks.join_next().await {
        locked.extend(ids.expect("task"));
    }
    locked.sort();
    let expected: Vec<String> = (0..60).map(|i| format!("i{i:02}")).collect();
    assert_eq!(locked, expected, "each instance locked exactly once");
}

/// Lease writes (taking and renewing leases) commit without waiting for the WAL flush, as
/// SQLite's are not synced; every other write keeps the server's setting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lease_writes_alone_commit_without_waiting_for_the_flush() {
    let schema = Schema::new().await;
    let setting = async |client: deadpool_postgres::Object| -> (String, String) {
        let row = client
            .query_one(
                "SELECT setting, source FROM pg_settings WHERE name = 'synchronous_commit'",
                &[],
            )
            .await
            .expect("reading the setting");
        (row.get(0), row.get(1))
    };
    let lease = setting(schema.store.lease().await.expect("a lease connection")).await;
    assert_eq!(lease, ("off".to_owned(), "client".to_owned()));
    let other = setting(schema.store.read().await.expect("a connection")).await;
    assert_ne!(other.1, "client", "the server's own setting: {other:?}");
}

/// Two hosts may share an owner name; their lease tokens must still differ.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lease_tokens_differ_between_handles_with_the_same_owner() {
    let schema = Schema::new().await;
    let second = schema.another_handle().await;
    lease_tokens_differ_between_handles(&schema.store, &second).await;
}

/// A schema keeps the version it was made with; a newer one (or one with the tables but no
/// version) is refused rather than misread, and reopening a current one works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schema_of_another_version_is_refused() {
    let schema = Schema::new().await;
    drop(schema.another_handle().await);
    schema
        .execute("UPDATE durable_schema SET version = 99")
        .await;
    let err = PostgresStore::connect_in_schema(&schema.url, Some(&schema.name))
        .await
        .err()
        .expect("refused");
    assert!(
        err.to_string()
            .contains("schema version 99, newer than this build"),
        "{err}"
    );
    schema.execute("DROP TABLE durable_schema").await;
    let err = PostgresStore::connect_in_schema(&schema.url, Some(&schema.name))
        .await
        .err()
        .expect("refused");
    assert!(err.to_string().contains("no schema version"), "{err}");
}

/// A refused connection fails with a readable error that names the server.
#[tokio::test]
async fn a_refused_connection_is_a_backend_error() {
    // Port 1 on the loopback: nothing listens there.
    let err = PostgresStore::connect("postgres://postgres@127.0.0.1:1/test")
        .await
        .err()
        .expect("refused");
    assert!(matches!(err, StoreError::Backend(_)), "{err}");
    let message = err.to_string();
    assert!(
        message.contains("cannot connect to PostgreSQL at 127.0.0.1:1"),
        "{message}"
    );
}

/// A schema made by the previous version (`fixtures/postgres-v1.sql`) is migrated when a host
/// connects, and everything in it is found again; connecting again changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schema_of_the_previous_version_opens_migrated_and_intact() {
    let schema = Schema::from_dump(include_str!("fixtures/postgres-v1.sql")).await;
    assert_eq!(schema.store.migration(), Migration { from: 1, to: 5 });
    upgrade::check(&schema.store).await;
    assert_eq!(
        schema.another_handle().await.migration(),
        Migration { from: 5, to: 5 }
    );
}

/// Another handle's commit is heard at once (LISTEN/NOTIFY); the handle's own are not news.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_by_another_handle_moves_external_commits_and_an_own_does_not() {
    let schema = Schema::new().await;
    let elsewhere = schema.another_handle().await;
    external_commits_move_for_others_only(&schema.store, &elsewhere).await;
}

/// A host whose session ended (its process died) has its leases released by the next look
/// for dead hosts, long before they expire; a live host's leases are never released.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_leases_of_a_host_that_is_gone_are_released_and_a_live_ones_are_not() {
    let schema = Schema::new().await;
    let gone = schema.another_handle().await;
    let held = hosts_hold_leases(&schema.store, &gone).await;
    schema
        .execute("DO $$ BEGIN IF (SELECT count(*) FROM hosts) <> 2 THEN RAISE 'not both registered'; END IF; END $$")
        .await;
    drop(gone);
    the_gone_hosts_leases_are_released(&schema.store, held).await;
    schema
        .execute("DO $$ BEGIN IF (SELECT count(*) FROM hosts) <> 1 THEN RAISE 'the gone host is still listed'; END IF; END $$")
        .await;
}

/// An instance's next turn is offered first to the host its last turn ran on (which holds its
/// live guest): another host gets it once it has waited `AFFINITY_MS`, and wakes up for it then.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_turn_is_offered_first_to_the_host_of_the_last_one() {
    use crate::store::postgres::AFFINITY_MS;
    let schema = Schema::new().await;
    let other = schema.another_handle().await;
    create(&schema.store, "a", T0).await;
    let item = lock_one(&other, "h", "a", T0).await;
    other
        .complete_orchestration(empty_commit(&item, T0 + 1))
        .await
        .unwrap();
    schema
        .store
        .send_message("a", raised("x"), T0 + 2, T0 + 2)
        .await
        .unwrap();
    assert_eq!(lockable(&schema.store, T0 + 2).await, Vec::<String>::new());
    let offered_to_all = T0 + 2 + AFFINITY_MS as Timestamp;
    assert_eq!(
        schema.store.next_wakeup(T0 + 2).await.unwrap(),
        Some(offered_to_all)
    );
    assert_eq!(lockable(&other, T0 + 2).await, ["a"]);
    assert_eq!(lockable(&schema.store, offered_to_all).await, ["a"]);
}

/// PostgreSQL's text cannot hold a NUL character: a batch of turn commits queueing an activity
/// whose name holds one is rejected as a whole by the server, written again item by item, and
/// only the item at fault fails. In a log line (guests print anything) it is replaced instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_item_the_server_refuses_fails_alone_and_its_batch_lands() {
    let schema = Schema::new().await;
    let store = &schema.store;
    for i in 0..10 {
        create(store, &format!("t{i}"), T0).await;
    }
    let items = store
        .lock_orchestrations("w", 100, LEASE, T0)
        .await
        .unwrap();
    assert_eq!(items.len(), 10);
    let mut turns: Vec<Pin<Box<dyn Future<Output = StoreResult<()>> + Send + '_>>> = Vec::new();
    for item in &items {
        let mut commit = empty_commit(item, T0 + 1);
        commit.new_history = vec![event(0, T0 + 1, EventKind::OrchestratorStarted)];
        let name = if item.instance.instance_id == "t3" {
            "bad \0 name"
        } else {
            "fine"
        };
        commit.activities = vec![activity(0, name, T0 + 1)];
        commit.logs = vec![LogLine {
            timestamp: T0 + 1,
            level: "info".into(),
            message: "printed \0 here".into(),
        }];
        turns.push(Box::pin(store.complete_orchestration(commit)));
    }
    for (item, result) in items.iter().zip(join_all(turns).await) {
        let id = item.instance.instance_id.as_str();
        let history = store.history(id).await.unwrap();
        let logs = store.logs(id).await.unwrap();
        if id == "t3" {
            assert!(matches!(result, Err(StoreError::Backend(_))), "{result:?}");
            assert!(
                history.is_empty() && logs.is_empty(),
                "nothing of it is written"
            );
        } else {
            result.unwrap_or_else(|e| panic!("{id}: {e}"));
            assert_eq!(history.len(), 1, "{id}");
            assert_eq!(logs[0].message, "printed \u{FFFD} here");
        }
    }
}
