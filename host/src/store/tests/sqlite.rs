//! What only the SQLite backend promises: writes from many threads on a file, lease tokens
//! unique across handles of one file, commits by another handle noticed, the leases of a host
//! that is gone released at once, the schema version, commits that claim the next work.

use super::*;
use crate::store::{Durability, SqliteStore};

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

/// A commit claims what the contract lets it ([`Claim`]): the first of a turn's visible
/// tasks up to `max`, the free instance an activity's result wakes, and a new instance's first
/// turn.
#[tokio::test]
async fn commits_claim_the_next_work() {
    let store = SqliteStore::open_in_memory().expect("in-memory SQLite");
    let claimed = super::activities::claiming_a_turns_tasks(&store).await;
    assert_eq!(claimed.len(), 1);
    let store = SqliteStore::open_in_memory().expect("in-memory SQLite");
    assert!(super::activities::claiming_a_results_instance(&store).await);
    let store = SqliteStore::open_in_memory().expect("in-memory SQLite");
    assert!(super::instances::claiming_a_first_turn(&store).await);
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
    external_commits_move_for_others_only(&host, &elsewhere).await;
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
    let held = hosts_hold_leases(&survivor, &gone).await;
    let hosts = dir.path().join("durable.db-hosts");
    assert_eq!(
        std::fs::read_dir(&hosts).unwrap().count(),
        2,
        "both registered"
    );
    drop(gone);
    the_gone_hosts_leases_are_released(&survivor, held).await;
    assert_eq!(
        std::fs::read_dir(&hosts).unwrap().count(),
        1,
        "its file is gone"
    );
}

/// A file made by the previous schema version (`fixtures/sqlite-v1.db`) is migrated when
/// opened, and everything in it is found again; opening it again changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_of_the_previous_schema_version_opens_migrated_and_intact() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("durable.db");
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src/store/tests/fixtures/sqlite-v1.db"
    );
    std::fs::copy(fixture, &path).expect("copying the fixture");
    let store = SqliteStore::open(&path, Durability::Normal).expect("migrated");
    assert_eq!(store.migration(), Migration { from: 1, to: 5 });
    upgrade::check(&store).await;
    drop(store);
    let store = SqliteStore::open(&path, Durability::Normal).expect("reopened");
    assert_eq!(store.migration(), Migration { from: 5, to: 5 });
}
