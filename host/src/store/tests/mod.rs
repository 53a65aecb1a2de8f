//! The storage conformance suite: every contract documented on [`Store`],
//! written once as async functions over `&dyn Store` (one file per part of the
//! contract) and run against each backend by [`conformance!`]: SQLite in memory
//! and on a file, and PostgreSQL with the feature `postgres-tests` (each test in a schema of
//! its own on the server `DURABLE_TEST_POSTGRES` names; `postgres_schema.rs`).
//! [`sqlite`] holds what only the SQLite backend promises.
//!
//! Time is passed explicitly (`now`), so leases, visibility and timers are
//! exercised without sleeping.

mod activities;
mod entities;
mod group_commit;
mod instances;
mod orchestrations;
#[cfg(feature = "postgres-tests")]
mod postgres_schema;
mod sqlite;
mod transfer;
mod upgrade;

use super::*;
use crate::plan::turn::{Locked, base_commit};
use crate::types::{EventKind, Failure, HistoryEvent, RuntimeStatus, Timestamp};
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

/// 2026-01-01T00:00:00Z.
const T0: Timestamp = 1_767_225_600_000;
const LEASE: u64 = 1_000;
const DIGEST: &str = "sha256:test";

fn new_instance(id: &str, name: &str, created_at: Timestamp) -> NewInstance {
    NewInstance {
        instance_id: id.to_owned(),
        name: name.to_owned(),
        execution_id: format!("{id}-exec-{created_at}"),
        digest: DIGEST.to_owned(),
        input: r#"{"n":1}"#.to_owned(),
        parent: None,
        created_at,
        version: None,
        trace: None,
    }
}

async fn create(store: &dyn Store, id: &str, created_at: Timestamp) {
    store
        .create_instance(new_instance(id, "orch", created_at))
        .await
        .unwrap_or_else(|e| panic!("creating {id}: {e}"));
}

fn event(event_id: u32, timestamp: Timestamp, kind: EventKind) -> HistoryEvent {
    HistoryEvent {
        event_id: Some(event_id),
        timestamp,
        kind,
    }
}

fn raised(name: &str) -> EventKind {
    EventKind::EventRaised {
        name: name.to_owned(),
        input: "null".to_owned(),
    }
}

fn labels(messages: &[InboxMessage]) -> Vec<&'static str> {
    messages.iter().map(|m| m.event.label()).collect()
}

/// A commit that consumes every message of `item` and changes nothing else.
fn empty_commit(item: &OrchestrationWorkItem, now: Timestamp) -> OrchestrationCommit {
    let locked = Locked {
        instance: &item.instance,
        lock_token: &item.lock_token,
    };
    let consumed = item.messages.iter().map(|m| m.id).collect();
    base_commit(locked, consumed, RuntimeStatus::Running, now)
}

fn timer(item: &OrchestrationWorkItem, timer_id: u32, fire_at: Timestamp) -> OutboundMessage {
    OutboundMessage {
        instance_id: item.instance.instance_id.clone(),
        execution_id: Some(item.instance.execution_id.clone()),
        event: EventKind::TimerFired { timer_id, fire_at },
        visible_at: fire_at,
        timer_id: Some(timer_id),
    }
}

fn activity(task_id: u32, name: &str, now: Timestamp) -> NewActivity {
    NewActivity {
        task_id,
        name: name.to_owned(),
        input: format!("{task_id}"),
        digest: DIGEST.to_owned(),
        visible_at: now,
        trace: None,
    }
}

/// Locks `id` (releasing any other instance the call locked).
async fn lock_one(
    store: &dyn Store,
    owner: &str,
    id: &str,
    now: Timestamp,
) -> OrchestrationWorkItem {
    let items = store
        .lock_orchestrations(owner, 1_000, LEASE, now)
        .await
        .expect("locking");
    let mut found = None;
    for item in items {
        if item.instance.instance_id == id {
            found = Some(item);
        } else {
            store
                .abandon_orchestration(&item.instance.instance_id, &item.lock_token, now)
                .await
                .expect("abandoning");
        }
    }
    found.unwrap_or_else(|| panic!("instance {id} could not be locked at {now}"))
}

/// Ids of the instances lockable at `now` (locks are released again).
async fn lockable(store: &dyn Store, now: Timestamp) -> Vec<String> {
    let items = store
        .lock_orchestrations("peek", 1_000, LEASE, now)
        .await
        .expect("locking");
    let mut ids = Vec::new();
    for item in items {
        store
            .abandon_orchestration(&item.instance.instance_id, &item.lock_token, now)
            .await
            .expect("abandoning");
        ids.push(item.instance.instance_id);
    }
    ids.sort();
    ids
}

/// Drives futures concurrently on the current task, so every request is
/// queued before the writer drains its queue (what group commit folds).
async fn join_all<T>(futures: Vec<Pin<Box<dyn Future<Output = T> + Send + '_>>>) -> Vec<T> {
    let mut futures: Vec<_> = futures.into_iter().map(Some).collect();
    let mut results: Vec<Option<T>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (slot, result) in futures.iter_mut().zip(results.iter_mut()) {
            if let Some(future) = slot {
                match future.as_mut().poll(cx) {
                    Poll::Ready(value) => {
                        *result = Some(value);
                        *slot = None;
                    }
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    results
        .into_iter()
        .map(|r| r.expect("every future finished"))
        .collect()
}

/// Writes from many spawned tasks through `writer` (on several threads) all land, as `store`
/// (the same handle, or another on the same database) sees.
async fn spawned_writers_all_land(
    store: std::sync::Arc<dyn Store>,
    writer: std::sync::Arc<dyn Store>,
) {
    create(&*store, "target", T0).await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..200 {
        let writer = writer.clone();
        tasks.spawn(async move {
            if i % 2 == 0 {
                writer
                    .send_message("target", raised(&format!("e{i}")), T0, T0)
                    .await
            } else {
                writer
                    .create_instance(new_instance(&format!("c{i}"), "orch", T0))
                    .await
            }
        });
    }
    while let Some(result) = tasks.join_next().await {
        result.expect("task").expect("write");
    }
    let item = lock_one(&*store, "w", "target", T0).await;
    assert_eq!(item.messages.len(), 101);
    let all = store
        .list_instances(&InstanceFilter::default())
        .await
        .unwrap();
    assert_eq!(all.len(), 101);
}

/// Two handles on one database may lock with the same owner name (the default is
/// `host-<pid>`, and pid 1 in every container); their lease tokens must still differ, or a
/// host whose lease was taken over could commit over the new holder's turn.
async fn lease_tokens_differ_between_handles(first: &dyn Store, second: &dyn Store) {
    create(first, "a", T0).await;
    let old = lock_one(first, "host-1", "a", T0).await;
    let new = lock_one(second, "host-1", "a", T0 + LEASE).await;
    assert_ne!(old.lock_token, new.lock_token);
    let err = first
        .complete_orchestration(empty_commit(&old, T0 + LEASE + 1))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::LeaseLost), "{err}");
    second
        .complete_orchestration(empty_commit(&new, T0 + LEASE + 1))
        .await
        .unwrap();
}

/// Another handle's commit (another process, for a host) moves `host`'s external commits;
/// its own commits do not.
async fn external_commits_move_for_others_only(host: &dyn Store, elsewhere: &dyn Store) {
    let mut commits = host.external_commits().expect("the backend tells");
    commits.borrow_and_update();
    create(host, "own", T0).await;
    // A bounded wait finds no change (SQLite's writer looks every 20 ms at least).
    let own = tokio::time::timeout(std::time::Duration::from_millis(200), commits.changed()).await;
    assert!(own.is_err(), "the handle's own commit counted as external");
    create(elsewhere, "foreign", T0).await;
    tokio::time::timeout(std::time::Duration::from_secs(10), commits.changed())
        .await
        .expect("a foreign commit is noticed")
        .expect("the store is alive");
}

/// `gone` (another host on the database) takes leases on an instance, an activity and an
/// entity, and `survivor` on an instance of its own, which it returns; both are alive, so
/// neither releases anything.
async fn hosts_hold_leases(survivor: &dyn Store, gone: &dyn Store) -> OrchestrationWorkItem {
    activities::with_scheduled_activity(survivor, "a").await;
    create(gone, "o", T0).await;
    gone.send_entity_message(entities::message("e", "add", None, T0))
        .await
        .unwrap();
    lock_one(gone, "host", "o", T0).await;
    let tasks = gone.lock_activities("host", 10, LEASE, T0).await.unwrap();
    assert_eq!(tasks.len(), 1);
    let batches = gone.lock_entities("host", 10, 10, LEASE, T0).await.unwrap();
    assert_eq!(batches.len(), 1);
    survivor
        .send_message("a", raised("x"), T0, T0)
        .await
        .unwrap();
    let held = lock_one(survivor, "host", "a", T0).await;
    assert_eq!(
        survivor.release_dead_hosts().await.unwrap(),
        0,
        "both alive"
    );
    assert_eq!(gone.release_dead_hosts().await.unwrap(), 0, "both alive");
    assert_eq!(lockable(survivor, T0 + 1).await, Vec::<String>::new());
    held
}

/// Once the host of [`hosts_hold_leases`] is gone, `survivor` releases its three leases (as
/// soon as the backend sees it gone) and takes its work over before the leases expire,
/// keeping its own.
async fn the_gone_hosts_leases_are_released(survivor: &dyn Store, held: OrchestrationWorkItem) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let released = loop {
        match survivor.release_dead_hosts().await.unwrap() {
            0 if std::time::Instant::now() < deadline => {
                // PostgreSQL ends the gone host's session when it sees the socket close.
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            released => break released,
        }
    };
    assert_eq!(released, 3);
    assert_eq!(lockable(survivor, T0 + 1).await, ["o"]);
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

/// Runs every suite function against each backend: `conformance! { part: [test, ...], ... ;
/// pairs: { part: [test, ...] } }` makes `sqlite_memory::part::test` and
/// `sqlite_file::part::test`, and with the feature `postgres-tests` `postgres::part::test`.
/// A test listed under `pairs` gets two new stores of its backend.
macro_rules! conformance {
    (
        $($part:ident: [$($test:ident),* $(,)?]),* $(,)?;
        pairs: { $($pairs:ident: [$($pair:ident),* $(,)?]),* $(,)? }
    ) => {
        conformance!(@backend sqlite_memory, open_sqlite_memory, [tokio::test], [];
            $($part: [$($test),*]),*; $($pairs: [$($pair),*]),*);
        conformance!(@backend sqlite_file, open_sqlite_file,
            [tokio::test(flavor = "multi_thread", worker_threads = 2)], [];
            $($part: [$($test),*]),*; $($pairs: [$($pair),*]),*);
        conformance!(@backend postgres, open_postgres,
            [tokio::test(flavor = "multi_thread", worker_threads = 2)],
            [#[cfg(feature = "postgres-tests")]];
            $($part: [$($test),*]),*; $($pairs: [$($pair),*]),*);
    };
    (
        @backend $backend:ident, $open:ident, [$test_attr:meta], [$(#[$cfg:meta])*];
        $($part:ident: [$($test:ident),*]),*; $($pairs:ident: [$($pair:ident),*]),*
    ) => {
        $(#[$cfg])*
        mod $backend {
            $(
                mod $part {
                    $(
                        #[$test_attr]
                        async fn $test() {
                            let store = super::super::$open().await;
                            super::super::$part::$test(super::super::Opened::store(&store)).await;
                        }
                    )*
                }
            )*
            $(
                mod $pairs {
                    $(
                        #[$test_attr]
                        async fn $pair() {
                            let first = super::super::$open().await;
                            let second = super::super::$open().await;
                            let (first, second) = (
                                super::super::Opened::store(&first),
                                super::super::Opened::store(&second),
                            );
                            super::super::$pairs::$pair(first, second).await;
                        }
                    )*
                }
            )*
        }
    };
}

/// A store a suite test runs on, with whatever must live as long as it (and is cleaned up
/// after it: a temporary directory, a PostgreSQL schema).
trait Opened {
    fn store(&self) -> &dyn Store;
}

impl Opened for SqliteStore {
    fn store(&self) -> &dyn Store {
        self
    }
}

impl Opened for (tempfile::TempDir, SqliteStore) {
    fn store(&self) -> &dyn Store {
        &self.1
    }
}

async fn open_sqlite_memory() -> SqliteStore {
    SqliteStore::open_in_memory().expect("in-memory SQLite")
}

async fn open_sqlite_file() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store =
        SqliteStore::open(&dir.path().join("durable.db"), Durability::Full).expect("SQLite file");
    (dir, store)
}

#[cfg(feature = "postgres-tests")]
impl Opened for postgres_schema::Schema {
    fn store(&self) -> &dyn Store {
        &self.store
    }
}

#[cfg(feature = "postgres-tests")]
async fn open_postgres() -> postgres_schema::Schema {
    postgres_schema::Schema::new().await
}

conformance! {
    instances: [
        components_are_stored_by_digest_newest_first,
        retired_components_nothing_needs_are_collected,
        create_instance_enqueues_execution_started,
        create_instance_refuses_an_unfinished_duplicate,
        a_start_claims_its_first_turn,
        create_instance_replaces_a_finished_one,
        send_message_to_unknown_or_finished_instances_writes_nothing,
        list_instances_filters_by_status_prefix_name_digest_range_and_limit,
        backlog_counts_instances_and_ready_work,
        list_instances_pages_with_a_keyset_cursor,
        a_rewind_writes_its_plan_unless_the_instance_changed,
        an_upgrade_moves_an_idle_instance_unless_it_changed,
        pinned_counts_count_unfinished_instances_by_digest,
    ],
    orchestrations: [
        history_chunks_are_the_history_in_order,
        lock_returns_only_visible_messages,
        lock_skips_held_leases_and_takes_over_expired_ones,
        abandon_releases_the_lock_and_retries_later,
        concurrent_lockers_never_share_an_instance,
        a_commit_writes_the_whole_turn,
        a_commit_can_clear_the_custom_status,
        next_wakeup_reports_the_earliest_future_time,
    ],
    activities: [
        a_completed_activity_is_delivered_once,
        a_turn_claims_at_most_max_of_its_visible_tasks,
        a_result_claims_its_instance_unless_held_or_suspended,
        of_results_claiming_one_instance_at_most_one_does,
        a_task_keeps_the_trace_it_was_queued_with,
        a_task_carries_the_app_of_its_component,
        an_activity_runs_on_the_component_its_commit_names,
        an_expired_activity_lease_is_taken_over,
        a_renewed_activity_lease_holds_and_a_lost_one_cannot_be_renewed,
        a_late_result_is_dropped_and_the_instance_stays_as_it_ended,
        an_idle_poll_sees_every_kind_of_ready_work,
    ],
    entities: [
        messages_come_in_order_and_scheduled_ones_wait,
        a_lost_lease_writes_nothing,
        a_held_entity_sees_only_its_holders_messages,
        responses_reach_running_callers_only,
        listing_pages_and_empty_entities_are_deleted,
    ],
    upgrade: [filled_stores_read_back],
    group_commit: [
        concurrent_writes_all_land,
        a_failing_request_does_not_roll_back_its_group,
        concurrent_turns_and_results_are_fenced_one_by_one,
    ];
    pairs: {
        transfer: [
            a_copy_looks_the_same_through_every_read_and_lock,
            an_import_writes_all_or_nothing,
        ],
    }
}
