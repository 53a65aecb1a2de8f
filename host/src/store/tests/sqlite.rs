//! What only the SQLite backend promises: writes from many threads on a file, lease tokens
//! unique across handles of one file, commits by another handle noticed, the leases of a host
//! that is gone released at once, the schema version.

use super::*;
use crate::store::{Durability, SqliteStore};
use std::time::Duration;

/// Group commit under real concurrency: writes from many spawned tasks on
/// several threads all land.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn spawned_writers_all_land_on_a_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store: std::sync::Arc<dyn Store> = std::sync::Arc::new(
        SqliteStore::open(&dir.path().join("durable.db"), Durability::Full).expect("SQLite file"),
    );
    spawned_writers_all_land(store.clone(), store).await;
}

/// Two hosts may share an owner name (the default is `host-<pid>`, and pid 1
/// in every container); their lease tokens must still differ.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lease_tokens_differ_between_stores_with_the_same_owner() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("durable.db");
    let first = SqliteStore::open(&path, Durability::Normal).expect("SQLite file");
    let second = SqliteStore::open(&path, Durability::Normal).expect("SQLite file");
    lease_tokens_differ_between_handles(&first, &second).await;
}

/// A database file keeps the schema version it was made with; a file of
/// another version (or of a build before versions) is refused, not misread,
/// and reopening a current one works.
#[test]
fn a_database_of_another_schema_version_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("durable.db");
    drop(SqliteStore::open(&path, Durability::Full).expect("new file"));
    drop(SqliteStore::open(&path, Durability::Full).expect("reopened"));

    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    let err = SqliteStore::open(&path, Durability::Full)
        .err()
        .expect("refused");
    assert!(err.to_string().contains("schema version 99"), "{err}");

    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", 0).unwrap();
    drop(conn);
    let err = SqliteStore::open(&path, Durability::Full)
        .err()
        .expect("refused");
    assert!(
        err.to_string().contains("earlier development build"),
        "{err}"
    );
}

/// Another handle's commit (another process, for a host) moves `external_commits`; the
/// handle's own commits do not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_by_another_handle_moves_external_commits_and_an_own_does_not() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("durable.db");
    // `elsewhere` first: opening writes the schema, a commit `host` must not see as new.
    let elsewhere = SqliteStore::open(&path, Durability::Normal).expect("SQLite file");
    let host = SqliteStore::open(&path, Durability::Normal).expect("SQLite file");
    let mut commits = host.external_commits().expect("SQLite tells");
    commits.borrow_and_update();
    create(&host, "own", T0).await;
    // The writer looks at least every 20 ms; a bounded wait finds no change.
    let own = tokio::time::timeout(Duration::from_millis(200), commits.changed()).await;
    assert!(own.is_err(), "the handle's own commit counted as external");
    create(&elsewhere, "foreign", T0).await;
    tokio::time::timeout(Duration::from_secs(10), commits.changed())
        .await
        .expect("a foreign commit is noticed")
        .expect("the store is alive");
}

/// A host whose handle is gone (for a host, its process died) has its leases released by the
/// next look for dead hosts, long before they expire: its instance, activity and entity are
/// lockable at once. A live host's leases are never released.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_leases_of_a_host_that_is_gone_are_released_and_a_live_ones_are_not() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("durable.db");
    let survivor = SqliteStore::open(&path, Durability::Normal).expect("SQLite file");
    let gone = SqliteStore::open(&path, Durability::Normal).expect("SQLite file");
    activities::with_scheduled_activity(&gone, "a").await;
    create(&gone, "o", T0).await;
    gone.send_entity_message(entities::message("e", "add", None, T0))
        .await
        .unwrap();
    lock_one(&gone, "host", "o", T0).await;
    assert_eq!(
        gone.lock_activities("host", 10, LEASE, T0)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        gone.lock_entities("host", 10, 10, LEASE, T0)
            .await
            .unwrap()
            .len(),
        1
    );
    survivor
        .send_message("a", raised("x"), T0, T0)
        .await
        .unwrap();
    let held = lock_one(&survivor, "host", "a", T0).await;

    let hosts = dir.path().join("durable.db-hosts");
    assert_eq!(
        std::fs::read_dir(&hosts).unwrap().count(),
        2,
        "both registered"
    );
    assert_eq!(
        survivor.release_dead_hosts().await.unwrap(),
        0,
        "both alive"
    );
    assert_eq!(gone.release_dead_hosts().await.unwrap(), 0, "both alive");
    assert_eq!(lockable(&survivor, T0 + 1).await, Vec::<String>::new());

    drop(gone);
    assert_eq!(survivor.release_dead_hosts().await.unwrap(), 3);
    assert_eq!(
        std::fs::read_dir(&hosts).unwrap().count(),
        1,
        "its file is gone"
    );
    assert_eq!(lockable(&survivor, T0 + 1).await, ["o"]);
    let tasks = survivor
        .lock_activities("host", 10, LEASE, T0 + 1)
        .await
        .unwrap();
    assert_eq!(
        (tasks.len(), tasks[0].attempt),
        (1, 2),
        "taken over, second attempt"
    );
    let entities = survivor
        .lock_entities("host", 10, 10, LEASE, T0 + 1)
        .await
        .unwrap();
    assert_eq!(entities.len(), 1);
    // The survivor's own lease was not released with the dead host's.
    survivor
        .complete_orchestration(empty_commit(&held, T0 + 2))
        .await
        .unwrap();
    assert_eq!(
        survivor.release_dead_hosts().await.unwrap(),
        0,
        "nothing more"
    );
}
