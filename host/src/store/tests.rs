//! The storage conformance suite: every contract documented on [`Store`],
//! written once as async functions over `&dyn Store` and run against each
//! backend (SQLite in memory and on a file today; PostgreSQL joins by adding
//! a module to `conformance!`).
//!
//! Time is passed explicitly (`now`), so leases, visibility and timers are
//! exercised without sleeping.

use super::*;
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
        event_id,
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
    OrchestrationCommit {
        instance_id: item.instance.instance_id.clone(),
        lock_token: item.lock_token.clone(),
        execution_id: item.instance.execution_id.clone(),
        new_history: Vec::new(),
        consumed: item.messages.iter().map(|m| m.id).collect(),
        status: RuntimeStatus::Running,
        output: None,
        failure: None,
        custom_status: None,
        activities: Vec::new(),
        messages: Vec::new(),
        cancelled_timers: Vec::new(),
        logs: Vec::new(),
        new_execution: None,
        new_instances: Vec::new(),
        entity_messages: Vec::new(),
        now,
    }
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

// ---------------------------------------------------------------------------
// Components

async fn components_are_stored_by_digest_newest_first(store: &dyn Store) {
    let catalogue = Catalogue {
        orchestrators: vec!["a".into()],
        ..Default::default()
    };
    store
        .put_component("sha256:a", b"AAA", &catalogue, T0)
        .await
        .unwrap();
    store
        .put_component("sha256:b", b"BBB", &Catalogue::default(), T0 + 1)
        .await
        .unwrap();
    let digests = |c: Vec<ComponentRecord>| c.into_iter().map(|c| c.digest).collect::<Vec<_>>();
    assert_eq!(
        digests(store.components().await.unwrap()),
        ["sha256:b", "sha256:a"]
    );
    // Deploying the same digest again makes it the newest, nothing more.
    store
        .put_component("sha256:a", b"AAA", &catalogue, T0 + 2)
        .await
        .unwrap();
    let components = store.components().await.unwrap();
    assert_eq!(digests(components.clone()), ["sha256:a", "sha256:b"]);
    assert_eq!(components[0].catalogue, catalogue);
    assert_eq!(components[0].deployed_at, T0 + 2);
    assert_eq!(
        store.component_bytes("sha256:a").await.unwrap().as_deref(),
        Some(&b"AAA"[..])
    );
    assert_eq!(store.component_bytes("sha256:zzz").await.unwrap(), None);
}

// ---------------------------------------------------------------------------
// create_instance

async fn create_instance_enqueues_execution_started(store: &dyn Store) {
    create(store, "a", T0).await;
    let record = store.instance("a").await.unwrap().expect("stored");
    assert_eq!(record.status, RuntimeStatus::Pending);
    assert_eq!(record.name, "orch");
    assert_eq!(record.input, r#"{"n":1}"#);
    assert_eq!(record.digest, DIGEST);
    assert_eq!((record.created_at, record.updated_at), (T0, T0));
    assert_eq!(record.completed_at, None);
    assert!(store.history("a").await.unwrap().is_empty());

    let item = lock_one(store, "w", "a", T0).await;
    assert_eq!(item.history_len, 0);
    assert_eq!(item.messages.len(), 1, "{:?}", item.messages);
    let message = &item.messages[0];
    assert_eq!(
        message.execution_id.as_deref(),
        Some(record.execution_id.as_str())
    );
    assert_eq!(
        message.event,
        EventKind::ExecutionStarted {
            name: "orch".into(),
            instance_id: "a".into(),
            execution_id: record.execution_id.clone(),
            input: r#"{"n":1}"#.into(),
            parent: None,
        }
    );
}

async fn create_instance_refuses_an_unfinished_duplicate(store: &dyn Store) {
    create(store, "a", T0).await;
    let err = store
        .create_instance(new_instance("a", "other", T0 + 5))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::InstanceExists(ref id) if id == "a"),
        "{err}"
    );
    let record = store.instance("a").await.unwrap().unwrap();
    assert_eq!((record.name.as_str(), record.created_at), ("orch", T0));
    // No second ExecutionStarted was enqueued.
    let item = lock_one(store, "w", "a", T0 + 5).await;
    assert_eq!(labels(&item.messages), ["ExecutionStarted"]);

    // Still refused while running.
    let mut commit = empty_commit(&item, T0 + 6);
    commit.new_history = vec![event(0, T0 + 6, EventKind::OrchestratorStarted)];
    store.complete_orchestration(commit).await.unwrap();
    let err = store
        .create_instance(new_instance("a", "other", T0 + 7))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::InstanceExists(_)), "{err}");
    assert_eq!(store.history("a").await.unwrap().len(), 1);
}

async fn create_instance_replaces_a_finished_one(store: &dyn Store) {
    create(store, "a", T0).await;
    let item = lock_one(store, "w", "a", T0).await;
    let old_execution = item.instance.execution_id.clone();
    let mut commit = empty_commit(&item, T0 + 1);
    commit.new_history = vec![
        event(0, T0 + 1, EventKind::OrchestratorStarted),
        event(
            1,
            T0 + 1,
            EventKind::ExecutionCompleted {
                result: Some("1".into()),
                failure: None,
            },
        ),
    ];
    commit.status = RuntimeStatus::Completed;
    commit.output = Some("1".into());
    commit.custom_status = Some(Some("\"old\"".into()));
    // Leftovers the replacement must not inherit: a timer, a task, logs.
    commit.messages = vec![timer(&item, 7, T0 + 50)];
    commit.activities = vec![activity(3, "left_over", T0 + 1)];
    commit.logs = vec![LogLine {
        timestamp: T0 + 1,
        level: "info".into(),
        message: "old run".into(),
    }];
    store.complete_orchestration(commit).await.unwrap();
    assert_eq!(
        store.instance("a").await.unwrap().unwrap().status,
        RuntimeStatus::Completed
    );

    let mut again = new_instance("a", "second", T0 + 10);
    again.input = "2".into();
    store.create_instance(again).await.unwrap();
    let record = store.instance("a").await.unwrap().unwrap();
    assert_eq!(record.name, "second");
    assert_eq!(record.status, RuntimeStatus::Pending);
    assert_eq!(
        (record.output, record.custom_status, record.completed_at),
        (None, None, None)
    );
    assert_ne!(record.execution_id, old_execution);
    assert!(
        store.history("a").await.unwrap().is_empty(),
        "old history deleted"
    );
    assert!(
        store.logs("a").await.unwrap().is_empty(),
        "old logs deleted"
    );
    assert!(
        store
            .lock_activities("w", 10, LEASE, T0 + 100)
            .await
            .unwrap()
            .is_empty(),
        "old activity tasks deleted"
    );
    let item = lock_one(store, "w", "a", T0 + 100).await;
    assert_eq!(
        labels(&item.messages),
        ["ExecutionStarted"],
        "old timer deleted"
    );
    assert_eq!(
        item.messages[0].execution_id.as_deref(),
        Some(record.execution_id.as_str())
    );
    assert_eq!(item.history_len, 0);
}

// ---------------------------------------------------------------------------
// send_message

async fn send_message_to_unknown_or_finished_instances_writes_nothing(store: &dyn Store) {
    let err = store
        .send_message("missing", raised("x"), T0, T0)
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::InstanceNotFound(ref id) if id == "missing"),
        "{err}"
    );
    assert!(store.instance("missing").await.unwrap().is_none());

    create(store, "done", T0).await;
    let item = lock_one(store, "w", "done", T0).await;
    let mut commit = empty_commit(&item, T0 + 1);
    commit.status = RuntimeStatus::Failed;
    commit.failure = Some(Failure::new("Boom", "it broke"));
    store.complete_orchestration(commit).await.unwrap();
    let err = store
        .send_message("done", raised("x"), T0 + 2, T0 + 2)
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::InstanceFinished(ref id, RuntimeStatus::Failed) if id == "done"),
        "{err}"
    );
    // A future-visible message would show up as a wake-up; nothing is there.
    let err = store
        .send_message("done", raised("y"), T0 + 500, T0 + 2)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::InstanceFinished(..)), "{err}");
    assert_eq!(store.next_wakeup(T0).await.unwrap(), None);
    assert!(lockable(store, T0 + 10_000).await.is_empty());
    let record = store.instance("done").await.unwrap().unwrap();
    assert_eq!(record.failure, Some(Failure::new("Boom", "it broke")));

    // A running instance takes messages, oldest first.
    create(store, "live", T0).await;
    store
        .send_message("live", raised("first"), T0, T0)
        .await
        .unwrap();
    store
        .send_message("live", raised("second"), T0, T0)
        .await
        .unwrap();
    let item = lock_one(store, "w", "live", T0).await;
    assert_eq!(
        item.messages
            .iter()
            .map(|m| m.event.clone())
            .collect::<Vec<_>>()[1..],
        [raised("first"), raised("second")]
    );
    assert_eq!(
        item.messages[1].execution_id, None,
        "for whichever execution is current"
    );
}

// ---------------------------------------------------------------------------
// lock_orchestrations

async fn lock_returns_only_visible_messages(store: &dyn Store) {
    create(store, "a", T0).await;
    store
        .send_message("a", raised("later"), T0 + 1_000, T0)
        .await
        .unwrap();
    let item = lock_one(store, "w", "a", T0).await;
    assert_eq!(
        labels(&item.messages),
        ["ExecutionStarted"],
        "the future message is hidden"
    );
    store
        .complete_orchestration(empty_commit(&item, T0))
        .await
        .unwrap();

    assert!(
        lockable(store, T0 + 999).await.is_empty(),
        "nothing visible yet"
    );
    assert_eq!(store.next_wakeup(T0 + 999).await.unwrap(), Some(T0 + 1_000));
    let item = lock_one(store, "w", "a", T0 + 1_000).await;
    assert_eq!(item.messages.len(), 1);
    assert_eq!(item.messages[0].event, raised("later"));
}

async fn lock_skips_held_leases_and_takes_over_expired_ones(store: &dyn Store) {
    create(store, "a", T0).await;
    let a = lock_one(store, "host-a", "a", T0).await;
    assert!(
        store
            .lock_orchestrations("host-b", 10, LEASE, T0 + 1)
            .await
            .unwrap()
            .is_empty(),
        "the lease is held"
    );
    // New messages do not make a held instance lockable either.
    store
        .send_message("a", raised("more"), T0 + 1, T0 + 1)
        .await
        .unwrap();
    assert!(
        store
            .lock_orchestrations("host-b", 10, LEASE, T0 + LEASE - 1)
            .await
            .unwrap()
            .is_empty(),
        "the lease is held until it expires"
    );
    // The lease expiring is a wake-up (the work can be taken over then).
    assert_eq!(store.next_wakeup(T0 + 1).await.unwrap(), Some(T0 + LEASE));

    let b = store
        .lock_orchestrations("host-b", 10, LEASE, T0 + LEASE)
        .await
        .unwrap();
    assert_eq!(b.len(), 1, "taken over after the lease expired");
    let b = b.into_iter().next().unwrap();
    assert_ne!(b.lock_token, a.lock_token);
    assert_eq!(labels(&b.messages), ["ExecutionStarted", "EventRaised"]);

    // host-a's late commit is refused and writes nothing.
    let mut stale = empty_commit(&a, T0 + LEASE + 1);
    stale.new_history = vec![event(0, T0, EventKind::OrchestratorStarted)];
    stale.status = RuntimeStatus::Completed;
    stale.output = Some("\"split brain\"".into());
    stale.custom_status = Some(Some("\"stale\"".into()));
    stale.activities = vec![activity(1, "stale_work", T0)];
    stale.messages = vec![timer(&a, 1, T0 + 5_000)];
    let err = store.complete_orchestration(stale).await.unwrap_err();
    assert!(matches!(err, StoreError::LeaseLost), "{err}");
    assert!(
        store.history("a").await.unwrap().is_empty(),
        "history unchanged"
    );
    let record = store.instance("a").await.unwrap().unwrap();
    assert_eq!(record.status, RuntimeStatus::Pending);
    assert_eq!((record.output, record.custom_status), (None, None));
    assert!(
        store
            .lock_activities("w", 10, LEASE, T0 + LEASE + 1)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.next_wakeup(T0 + LEASE + 1).await.unwrap(),
        Some(T0 + 2 * LEASE)
    );

    // host-b's messages are all still there and its commit goes through.
    let mut commit = empty_commit(&b, T0 + LEASE + 2);
    commit.new_history = vec![event(0, T0 + LEASE + 2, EventKind::OrchestratorStarted)];
    store.complete_orchestration(commit).await.unwrap();
    assert_eq!(store.history("a").await.unwrap().len(), 1);
    assert!(
        lockable(store, T0 + LEASE + 3).await.is_empty(),
        "both messages consumed"
    );
}

async fn abandon_releases_the_lock_and_retries_later(store: &dyn Store) {
    create(store, "a", T0).await;
    let item = lock_one(store, "w", "a", T0).await;
    // A wrong token changes nothing.
    store
        .abandon_orchestration("a", "not-the-token", T0)
        .await
        .unwrap();
    assert!(lockable(store, T0 + 1).await.is_empty());

    store
        .abandon_orchestration("a", &item.lock_token, T0 + 500)
        .await
        .unwrap();
    store
        .abandon_orchestration("a", &item.lock_token, T0 + 500)
        .await
        .unwrap();
    assert!(
        lockable(store, T0 + 499).await.is_empty(),
        "retried no earlier than asked"
    );
    let again = lock_one(store, "w", "a", T0 + 500).await;
    assert_eq!(
        labels(&again.messages),
        ["ExecutionStarted"],
        "messages kept"
    );
    let err = store
        .complete_orchestration(empty_commit(&item, T0 + 501))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::LeaseLost),
        "an abandoned lock is gone: {err}"
    );
}

async fn concurrent_lockers_never_share_an_instance(store: &dyn Store) {
    for i in 0..40 {
        create(store, &format!("i{i:02}"), T0).await;
    }
    let lockers = (0..4)
        .map(|n| {
            Box::pin(async move {
                store
                    .lock_orchestrations(&format!("host-{n}"), 15, LEASE, T0)
                    .await
                    .unwrap()
            }) as Pin<Box<dyn Future<Output = Vec<OrchestrationWorkItem>> + Send>>
        })
        .collect();
    let mut ids: Vec<String> = join_all(lockers)
        .await
        .into_iter()
        .flatten()
        .map(|item| item.instance.instance_id)
        .collect();
    ids.sort();
    let before = ids.len();
    ids.dedup();
    assert_eq!(ids.len(), before, "an instance was locked twice");
    assert_eq!(ids.len(), 40, "4 x 15 lock slots cover all 40 instances");
}

// ---------------------------------------------------------------------------
// complete_orchestration

async fn a_commit_writes_the_whole_turn(store: &dyn Store) {
    create(store, "a", T0).await;
    let item = lock_one(store, "w", "a", T0).await;
    let execution = item.instance.execution_id.clone();
    let started = item.messages[0].event.clone();
    let turn1 = vec![
        event(0, T0 + 1, EventKind::OrchestratorStarted),
        event(1, T0 + 1, started),
        event(
            0,
            T0 + 1,
            EventKind::TaskScheduled {
                name: "work".into(),
                input: "0".into(),
            },
        ),
        event(
            1,
            T0 + 1,
            EventKind::TimerCreated {
                fire_at: T0 + 5_000,
            },
        ),
        event(
            2,
            T0 + 1,
            EventKind::TimerCreated {
                fire_at: T0 + 6_000,
            },
        ),
    ];
    let mut commit = empty_commit(&item, T0 + 1);
    commit.new_history = turn1.clone();
    commit.custom_status = Some(Some("\"working\"".into()));
    commit.activities = vec![activity(0, "work", T0 + 1)];
    commit.messages = vec![timer(&item, 1, T0 + 5_000), timer(&item, 2, T0 + 6_000)];
    commit.logs = vec![LogLine {
        timestamp: T0 + 1,
        level: "info".into(),
        message: "turn one".into(),
    }];
    store.complete_orchestration(commit).await.unwrap();

    assert_eq!(store.history("a").await.unwrap(), turn1);
    let record = store.instance("a").await.unwrap().unwrap();
    assert_eq!(record.status, RuntimeStatus::Running);
    assert_eq!(record.custom_status.as_deref(), Some("\"working\""));
    assert_eq!(record.updated_at, T0 + 1);
    assert_eq!(store.logs("a").await.unwrap()[0].message, "turn one");
    assert!(
        lockable(store, T0 + 2).await.is_empty(),
        "ExecutionStarted consumed, timers hidden"
    );
    assert_eq!(store.next_wakeup(T0 + 2).await.unwrap(), Some(T0 + 5_000));

    let tasks = store
        .lock_activities("worker", 10, LEASE, T0 + 2)
        .await
        .unwrap();
    assert_eq!(tasks.len(), 1);
    let task = &tasks[0];
    assert_eq!(
        (
            task.instance_id.as_str(),
            task.execution_id.as_str(),
            task.task_id
        ),
        ("a", execution.as_str(), 0)
    );
    assert_eq!(
        (
            task.name.as_str(),
            task.input.as_str(),
            task.digest.as_str()
        ),
        ("work", "0", DIGEST)
    );
    assert_eq!(task.attempt, 1);

    // Turn two: timer 1 fires; timer 2 is cancelled; the instance completes.
    let item = lock_one(store, "w", "a", T0 + 5_000).await;
    assert_eq!(item.history_len, 5);
    assert_eq!(
        item.messages
            .iter()
            .map(|m| m.event.clone())
            .collect::<Vec<_>>(),
        [EventKind::TimerFired {
            timer_id: 1,
            fire_at: T0 + 5_000
        }]
    );
    assert_eq!(
        item.messages[0].execution_id.as_deref(),
        Some(execution.as_str())
    );
    let turn2 = vec![
        event(5, T0 + 5_001, EventKind::OrchestratorStarted),
        event(
            6,
            T0 + 5_001,
            EventKind::TimerFired {
                timer_id: 1,
                fire_at: T0 + 5_000,
            },
        ),
        event(
            3,
            T0 + 5_001,
            EventKind::ExecutionCompleted {
                result: Some("42".into()),
                failure: None,
            },
        ),
    ];
    let mut commit = empty_commit(&item, T0 + 5_001);
    commit.new_history = turn2.clone();
    commit.cancelled_timers = vec![2];
    commit.status = RuntimeStatus::Completed;
    commit.output = Some("42".into());
    store.complete_orchestration(commit).await.unwrap();

    let history = store.history("a").await.unwrap();
    assert_eq!(history, [turn1, turn2].concat());
    let record = store.instance("a").await.unwrap().unwrap();
    assert_eq!(record.status, RuntimeStatus::Completed);
    assert_eq!(record.output.as_deref(), Some("42"));
    assert_eq!(
        record.custom_status.as_deref(),
        Some("\"working\""),
        "left alone when None"
    );
    assert_eq!(record.completed_at, Some(T0 + 5_001));
    assert_eq!(
        store.next_wakeup(T0 + 5_001).await.unwrap(),
        None,
        "timer 2 was deleted"
    );
    assert!(
        lockable(store, T0 + 10_000).await.is_empty(),
        "timer 2 was deleted"
    );
}

async fn a_commit_can_clear_the_custom_status(store: &dyn Store) {
    create(store, "a", T0).await;
    let item = lock_one(store, "w", "a", T0).await;
    let mut commit = empty_commit(&item, T0);
    commit.custom_status = Some(Some("{\"step\":1}".into()));
    store.complete_orchestration(commit).await.unwrap();
    store.send_message("a", raised("go"), T0, T0).await.unwrap();
    let item = lock_one(store, "w", "a", T0).await;
    let mut commit = empty_commit(&item, T0);
    commit.custom_status = Some(None);
    store.complete_orchestration(commit).await.unwrap();
    assert_eq!(
        store.instance("a").await.unwrap().unwrap().custom_status,
        None
    );
}

// ---------------------------------------------------------------------------
// Activities

/// Creates `id` and commits a first turn scheduling activity task 0.
async fn with_scheduled_activity(store: &dyn Store, id: &str) -> String {
    create(store, id, T0).await;
    let item = lock_one(store, "w", id, T0).await;
    let mut commit = empty_commit(&item, T0);
    commit.activities = vec![activity(0, "work", T0)];
    store.complete_orchestration(commit).await.unwrap();
    item.instance.execution_id
}

async fn a_completed_activity_is_delivered_once(store: &dyn Store) {
    let execution = with_scheduled_activity(store, "a").await;
    let tasks = store.lock_activities("w1", 10, LEASE, T0).await.unwrap();
    assert_eq!(tasks.len(), 1);
    assert!(
        store
            .lock_activities("w2", 10, LEASE, T0 + 1)
            .await
            .unwrap()
            .is_empty(),
        "a locked task is not handed out twice"
    );
    let result = EventKind::TaskCompleted {
        task_id: 0,
        result: "\"done\"".into(),
    };
    let line = LogLine {
        timestamp: T0 + 2,
        level: "info".into(),
        message: "working".into(),
    };
    store
        .complete_activity(&tasks[0], result.clone(), vec![line.clone()], T0)
        .await
        .unwrap();
    // The same (now stale) token again: refused, nothing delivered twice.
    let err = store
        .complete_activity(&tasks[0], result.clone(), vec![line.clone()], T0)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::LeaseLost), "{err}");
    assert_eq!(store.logs("a").await.unwrap(), [line]);
    assert!(
        store
            .lock_activities("w2", 10, LEASE, T0 + 10 * LEASE)
            .await
            .unwrap()
            .is_empty(),
        "task deleted"
    );

    let item = lock_one(store, "w", "a", T0 + 3).await;
    assert_eq!(item.messages.len(), 1);
    assert_eq!(item.messages[0].event, result);
    assert_eq!(
        item.messages[0].execution_id.as_deref(),
        Some(execution.as_str())
    );
}

/// The commit names the component each task runs on (not necessarily the instance's).
async fn an_activity_runs_on_the_component_its_commit_names(store: &dyn Store) {
    create(store, "a", T0).await;
    let item = lock_one(store, "w", "a", T0).await;
    let mut commit = empty_commit(&item, T0);
    commit.activities = vec![
        activity(0, "own", T0),
        NewActivity {
            digest: "sha256:other".into(),
            ..activity(1, "elsewhere", T0)
        },
    ];
    store.complete_orchestration(commit).await.unwrap();
    let mut tasks = store.lock_activities("w", 10, LEASE, T0).await.unwrap();
    tasks.sort_by_key(|t| t.task_id);
    let ran_on: Vec<(&str, &str)> = tasks
        .iter()
        .map(|t| (t.name.as_str(), t.digest.as_str()))
        .collect();
    assert_eq!(ran_on, [("own", DIGEST), ("elsewhere", "sha256:other")]);
    let record = store.instance("a").await.unwrap().unwrap();
    assert_eq!(record.digest, DIGEST, "the instance stays on its own");
}

async fn an_expired_activity_lease_is_taken_over(store: &dyn Store) {
    with_scheduled_activity(store, "a").await;
    let first = store.lock_activities("w1", 10, LEASE, T0).await.unwrap();
    assert_eq!(first[0].attempt, 1);
    assert!(
        store
            .lock_activities("w2", 10, LEASE, T0 + LEASE - 1)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.next_wakeup(T0).await.unwrap(),
        Some(T0 + LEASE),
        "the lease expiry wakes workers"
    );
    let second = store
        .lock_activities("w2", 10, LEASE, T0 + LEASE)
        .await
        .unwrap();
    assert_eq!(second.len(), 1, "taken over after the lease expired");
    assert_eq!((second[0].id, second[0].attempt), (first[0].id, 2));
    assert_ne!(second[0].lock_token, first[0].lock_token);

    let late = EventKind::TaskCompleted {
        task_id: 0,
        result: "\"late\"".into(),
    };
    let err = store
        .complete_activity(&first[0], late, Vec::new(), T0)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::LeaseLost), "{err}");
    assert!(
        lockable(store, T0 + LEASE).await.is_empty(),
        "the lost lease delivered nothing"
    );

    let failed = EventKind::TaskFailed {
        task_id: 0,
        failure: Failure::new("Boom", "second attempt failed"),
    };
    store
        .complete_activity(&second[0], failed.clone(), Vec::new(), T0)
        .await
        .unwrap();
    let item = lock_one(store, "w", "a", T0 + LEASE + 1).await;
    assert_eq!(
        item.messages.iter().map(|m| &m.event).collect::<Vec<_>>(),
        [&failed]
    );
}

// ---------------------------------------------------------------------------
// next_wakeup

async fn next_wakeup_reports_the_earliest_future_time(store: &dyn Store) {
    assert_eq!(store.next_wakeup(T0).await.unwrap(), None, "empty store");
    create(store, "a", T0).await;
    assert_eq!(
        store.next_wakeup(T0).await.unwrap(),
        None,
        "visible now is not in the future"
    );
    let item = lock_one(store, "w", "a", T0).await;
    let mut commit = empty_commit(&item, T0);
    commit.messages = vec![timer(&item, 1, T0 + 9_000), timer(&item, 2, T0 + 3_000)];
    store.complete_orchestration(commit).await.unwrap();
    assert_eq!(store.next_wakeup(T0).await.unwrap(), Some(T0 + 3_000));
    assert_eq!(
        store.next_wakeup(T0 + 3_000).await.unwrap(),
        Some(T0 + 9_000),
        "strictly after now"
    );
    assert_eq!(store.next_wakeup(T0 + 9_000).await.unwrap(), None);

    let item = lock_one(store, "w", "a", T0 + 3_000).await;
    let mut commit = empty_commit(&item, T0 + 3_000);
    commit.cancelled_timers = vec![1];
    commit.activities = vec![NewActivity {
        visible_at: T0 + 4_000,
        ..activity(0, "delayed", T0)
    }];
    store.complete_orchestration(commit).await.unwrap();
    assert_eq!(
        store.next_wakeup(T0 + 3_000).await.unwrap(),
        Some(T0 + 4_000),
        "a delayed task"
    );
    assert!(
        store
            .lock_activities("w", 10, LEASE, T0 + 3_999)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .lock_activities("w", 10, LEASE, T0 + 4_000)
            .await
            .unwrap()
            .len(),
        1
    );
}

// ---------------------------------------------------------------------------
// list_instances

async fn list_instances_filters_by_status_prefix_range_and_limit(store: &dyn Store) {
    for (i, id) in ["order-1", "order-2", "order-3", "user-1", "über-1", "ü-2"]
        .into_iter()
        .enumerate()
    {
        create(store, id, T0 + 10 * i as u64).await;
    }
    let item = lock_one(store, "w", "order-2", T0 + 100).await;
    let mut commit = empty_commit(&item, T0 + 100);
    commit.status = RuntimeStatus::Completed;
    commit.output = Some("null".into());
    store.complete_orchestration(commit).await.unwrap();
    let item = lock_one(store, "w", "order-3", T0 + 100).await;
    store
        .complete_orchestration(empty_commit(&item, T0 + 100))
        .await
        .unwrap();

    let list = |filter: InstanceFilter| async move {
        store
            .list_instances(&filter)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.instance_id)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        list(InstanceFilter::default()).await,
        ["order-1", "order-2", "order-3", "user-1", "über-1", "ü-2"],
        "everything, oldest first"
    );
    let by_status = |statuses: Vec<RuntimeStatus>| InstanceFilter {
        statuses,
        ..Default::default()
    };
    assert_eq!(
        list(by_status(vec![RuntimeStatus::Completed])).await,
        ["order-2"]
    );
    assert_eq!(
        list(by_status(vec![RuntimeStatus::Running])).await,
        ["order-3"]
    );
    assert_eq!(
        list(by_status(vec![
            RuntimeStatus::Completed,
            RuntimeStatus::Running
        ]))
        .await,
        ["order-2", "order-3"]
    );
    assert!(
        list(by_status(vec![RuntimeStatus::Failed]))
            .await
            .is_empty()
    );

    let by_prefix = |prefix: &str| InstanceFilter {
        id_prefix: Some(prefix.to_owned()),
        ..Default::default()
    };
    assert_eq!(
        list(by_prefix("order-")).await,
        ["order-1", "order-2", "order-3"]
    );
    assert_eq!(list(by_prefix("user-1")).await, ["user-1"]);
    assert_eq!(
        list(by_prefix("ü")).await,
        ["über-1", "ü-2"],
        "prefixes are characters, not bytes"
    );
    assert_eq!(list(by_prefix("ü-")).await, ["ü-2"]);
    assert!(list(by_prefix("nobody")).await.is_empty());
    assert!(list(by_prefix("%")).await.is_empty(), "not a LIKE pattern");

    let range = InstanceFilter {
        created_from: Some(T0 + 10),
        created_to: Some(T0 + 30),
        ..Default::default()
    };
    assert_eq!(
        list(range).await,
        ["order-2", "order-3", "user-1"],
        "bounds inclusive"
    );
    let open_ended = InstanceFilter {
        created_from: Some(T0 + 31),
        ..Default::default()
    };
    assert_eq!(list(open_ended).await, ["über-1", "ü-2"]);

    let limited = InstanceFilter {
        limit: Some(2),
        ..Default::default()
    };
    assert_eq!(list(limited).await, ["order-1", "order-2"]);
    let combined = InstanceFilter {
        statuses: vec![RuntimeStatus::Pending],
        id_prefix: Some("order-".into()),
        created_to: Some(T0 + 50),
        limit: Some(10),
        ..Default::default()
    };
    assert_eq!(list(combined).await, ["order-1"]);
}

/// Keyset paging: following `after` from the last record of each page
/// visits every instance exactly once, in list order, also when several
/// share a creation time and when instances are added between pages.
async fn list_instances_pages_with_a_keyset_cursor(store: &dyn Store) {
    // Three instances per millisecond, created out of id order.
    for i in 0..10u64 {
        for suffix in ["c", "a", "b"] {
            create(store, &format!("i{i:02}{suffix}"), T0 + i).await;
        }
    }
    let mut seen = Vec::new();
    let mut filter = InstanceFilter {
        limit: Some(4),
        ..Default::default()
    };
    loop {
        let page = store.list_instances(&filter).await.unwrap();
        if seen.is_empty() {
            // Created between pages, before the cursor: not revisited; after
            // it: seen once.
            create(store, "i00z", T0).await;
            create(store, "i99", T0 + 99).await;
        }
        let Some(last) = page.last() else { break };
        filter.after = Some(ListCursor {
            created_at: last.created_at,
            instance_id: last.instance_id.clone(),
        });
        seen.extend(page.into_iter().map(|r| r.instance_id));
    }
    let mut expected: Vec<String> = (0..10u64)
        .flat_map(|i| ["a", "b", "c"].map(|s| format!("i{i:02}{s}")))
        .collect();
    expected.push("i99".into());
    assert_eq!(seen, expected);

    let after_filtered = InstanceFilter {
        id_prefix: Some("i05".into()),
        after: Some(ListCursor {
            created_at: T0 + 5,
            instance_id: "i05a".into(),
        }),
        ..Default::default()
    };
    let ids: Vec<String> = store
        .list_instances(&after_filtered)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.instance_id)
        .collect();
    assert_eq!(ids, ["i05b", "i05c"], "the cursor combines with filters");
}

// ---------------------------------------------------------------------------
// Group commit

async fn concurrent_writes_all_land(store: &dyn Store) {
    create(store, "target", T0).await;
    let mut writes: Vec<Pin<Box<dyn Future<Output = StoreResult<()>> + Send + '_>>> = Vec::new();
    for i in 0..100 {
        writes.push(Box::pin(store.send_message(
            "target",
            raised(&format!("e{i:03}")),
            T0,
            T0,
        )));
        writes.push(Box::pin(store.create_instance(new_instance(
            &format!("c{i:03}"),
            "orch",
            T0 + 1,
        ))));
    }
    for result in join_all(writes).await {
        result.expect("every write lands");
    }
    let created = store
        .list_instances(&InstanceFilter {
            id_prefix: Some("c".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(created.len(), 100);
    let item = lock_one(store, "w", "target", T0).await;
    let names: Vec<String> = item
        .messages
        .iter()
        .filter_map(|m| match &m.event {
            EventKind::EventRaised { name, .. } => Some(name.clone()),
            _ => None,
        })
        .collect();
    let expected: Vec<String> = (0..100).map(|i| format!("e{i:03}")).collect();
    assert_eq!(
        names, expected,
        "all delivered, in the order they were sent"
    );
}

async fn a_failing_request_does_not_roll_back_its_group(store: &dyn Store) {
    create(store, "target", T0).await;
    let mut writes: Vec<Pin<Box<dyn Future<Output = StoreResult<()>> + Send + '_>>> = Vec::new();
    for i in 0..50 {
        let id = format!("c{i:02}");
        // Queued back to back, each duplicate shares a commit with writes
        // that succeed.
        writes.push(Box::pin(
            store.create_instance(new_instance(&id, "first", T0)),
        ));
        writes.push(Box::pin(store.create_instance(new_instance(
            &id,
            "duplicate",
            T0,
        ))));
        writes.push(Box::pin(store.send_message("missing", raised("x"), T0, T0)));
        writes.push(Box::pin(store.send_message("target", raised(&id), T0, T0)));
    }
    let results = join_all(writes).await;
    for (i, chunk) in results.chunks(4).enumerate() {
        assert!(chunk[0].is_ok(), "create {i}: {:?}", chunk[0]);
        assert!(
            matches!(chunk[1], Err(StoreError::InstanceExists(_))),
            "duplicate {i}: {:?}",
            chunk[1]
        );
        assert!(
            matches!(chunk[2], Err(StoreError::InstanceNotFound(_))),
            "missing {i}: {:?}",
            chunk[2]
        );
        assert!(chunk[3].is_ok(), "send {i}: {:?}", chunk[3]);
    }
    let created = store
        .list_instances(&InstanceFilter {
            id_prefix: Some("c".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(created.len(), 50);
    assert!(
        created.iter().all(|r| r.name == "first"),
        "no duplicate replaced the original"
    );
    assert!(store.instance("missing").await.unwrap().is_none());
    let item = lock_one(store, "w", "target", T0).await;
    assert_eq!(item.messages.len(), 51, "ExecutionStarted and 50 events");
    // Each created instance has exactly one ExecutionStarted.
    let items = store
        .lock_orchestrations("w", 1_000, LEASE, T0)
        .await
        .unwrap();
    assert_eq!(items.len(), 50);
    assert!(
        items
            .iter()
            .all(|i| labels(&i.messages) == ["ExecutionStarted"])
    );
}

// ---------------------------------------------------------------------------
// Backends

/// Runs every suite function against each backend.
macro_rules! conformance {
    ($($test:ident),* $(,)?) => {
        mod sqlite_memory {
            $(
                #[tokio::test]
                async fn $test() {
                    let store = crate::store::SqliteStore::open_in_memory().expect("in-memory SQLite");
                    super::$test(&store).await;
                }
            )*
        }

        mod sqlite_file {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let dir = tempfile::tempdir().expect("temp dir");
                    let store = crate::store::SqliteStore::open(
                        &dir.path().join("durable.db"),
                        crate::store::Durability::Full,
                    )
                    .expect("SQLite file");
                    super::$test(&store).await;
                }
            )*
        }
    };
}

conformance!(
    components_are_stored_by_digest_newest_first,
    create_instance_enqueues_execution_started,
    create_instance_refuses_an_unfinished_duplicate,
    create_instance_replaces_a_finished_one,
    send_message_to_unknown_or_finished_instances_writes_nothing,
    lock_returns_only_visible_messages,
    lock_skips_held_leases_and_takes_over_expired_ones,
    abandon_releases_the_lock_and_retries_later,
    concurrent_lockers_never_share_an_instance,
    a_commit_writes_the_whole_turn,
    a_commit_can_clear_the_custom_status,
    a_completed_activity_is_delivered_once,
    an_activity_runs_on_the_component_its_commit_names,
    an_expired_activity_lease_is_taken_over,
    next_wakeup_reports_the_earliest_future_time,
    list_instances_filters_by_status_prefix_range_and_limit,
    list_instances_pages_with_a_keyset_cursor,
    concurrent_writes_all_land,
    a_failing_request_does_not_roll_back_its_group,
);

/// Group commit under real concurrency: writes from many spawned tasks on
/// several threads all land.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn spawned_writers_all_land_on_a_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store: std::sync::Arc<dyn Store> = std::sync::Arc::new(
        SqliteStore::open(&dir.path().join("durable.db"), Durability::Full).expect("SQLite file"),
    );
    create(&*store, "target", T0).await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..200 {
        let store = store.clone();
        tasks.spawn(async move {
            if i % 2 == 0 {
                store
                    .send_message("target", raised(&format!("e{i}")), T0, T0)
                    .await
            } else {
                store
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

/// Two hosts may share an owner name (the default is `host-<pid>`, and pid 1
/// in every container); their lease tokens must still differ, or a host
/// whose lease was taken over could commit over the new holder's turn.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lease_tokens_differ_between_stores_with_the_same_owner() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("durable.db");
    let first = SqliteStore::open(&path, Durability::Normal).expect("SQLite file");
    let second = SqliteStore::open(&path, Durability::Normal).expect("SQLite file");
    create(&first, "a", T0).await;
    let old = lock_one(&first, "host-1", "a", T0).await;
    let new = lock_one(&second, "host-1", "a", T0 + LEASE).await;
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
