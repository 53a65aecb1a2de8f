//! Locking orchestrations with their messages, committing turns, and when to wake up.

use super::*;

// lock_orchestrations

pub(super) async fn lock_returns_only_visible_messages(store: &dyn Store) {
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

pub(super) async fn lock_skips_held_leases_and_takes_over_expired_ones(store: &dyn Store) {
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

pub(super) async fn abandon_releases_the_lock_and_retries_later(store: &dyn Store) {
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

pub(super) async fn concurrent_lockers_never_share_an_instance(store: &dyn Store) {
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

// complete_orchestration

pub(super) async fn a_commit_writes_the_whole_turn(store: &dyn Store) {
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

pub(super) async fn a_commit_can_clear_the_custom_status(store: &dyn Store) {
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

// next_wakeup

pub(super) async fn next_wakeup_reports_the_earliest_future_time(store: &dyn Store) {
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

/// A history of 1,000 events read in chunks is the history, in order, in several chunks (so a
/// cold replay starts before the read ends), each holding some; an instance with none has no
/// events.
pub(super) async fn history_chunks_are_the_history_in_order(store: &dyn Store) {
    async fn read_chunks(store: &dyn Store, id: &str) -> (Vec<HistoryEvent>, usize) {
        let mut chunks = store.history_chunks(id).await.expect("reading");
        let (mut events, mut count) = (Vec::new(), 0);
        while let Some(chunk) = chunks.recv().await {
            let chunk = chunk.expect("a chunk");
            assert!(!chunk.is_empty(), "an empty chunk");
            events.extend(chunk);
            count += 1;
        }
        (events, count)
    }
    create(store, "a", T0).await;
    let item = lock_one(store, "w", "a", T0).await;
    let mut commit = empty_commit(&item, T0);
    commit.new_history = (0..1_000)
        .map(|i| event(i, T0 + u64::from(i), raised(&format!("e{i}"))))
        .collect();
    store.complete_orchestration(commit).await.unwrap();

    let whole = store.history("a").await.unwrap();
    assert_eq!(whole.len(), 1_000);
    let (read, chunks) = read_chunks(store, "a").await;
    assert_eq!(read, whole);
    assert!(chunks > 1, "{chunks} chunk(s) for 1,000 events");
    assert_eq!(read_chunks(store, "nobody").await, (Vec::new(), 0));
}

/// A history read is sent in full chunks and then the rest; a read abandoned before its end
/// (its job dropped unrun, its task gone) ends with an error, never as a shorter history.
#[tokio::test]
async fn an_abandoned_history_read_ends_with_an_error() {
    let events = |sender: &mut ChunkSender| {
        for i in 0..300 {
            assert!(sender.push(event(i, T0, raised("e"))));
        }
    };
    let (mut sender, mut chunks) = ChunkSender::new();
    events(&mut sender);
    sender.finish(Ok(()));
    assert_eq!(chunks.recv().await.unwrap().unwrap().len(), 256);
    assert_eq!(chunks.recv().await.unwrap().unwrap().len(), 44);
    assert!(chunks.recv().await.is_none());

    let (mut sender, mut chunks) = ChunkSender::new();
    events(&mut sender);
    drop(sender);
    assert_eq!(chunks.recv().await.unwrap().unwrap().len(), 256);
    let end = chunks.recv().await.unwrap();
    assert!(
        matches!(&end, Err(StoreError::Backend(m)) if m.contains("stopped before its end")),
        "{end:?}"
    );
    assert!(chunks.recv().await.is_none());
}
