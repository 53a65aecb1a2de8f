//! Databases made by an earlier schema version open with every instance intact.
//!
//! [`fill`] writes one of everything a store holds (a component, an instance waiting with a
//! pending activity and timer, a finished one, log lines, an entity with state and one with a
//! queued operation) and [`check`] finds it all again, as the engine would read it. The
//! suite runs the pair on a fresh store of each backend; the SQLite and PostgreSQL tests also
//! run [`check`] on a database that [`fill`] wrote with the previous schema version (the
//! fixtures in `fixtures/`, made as their README says), after opening migrated it.

use super::*;

/// The component [`fill`] stores.
const COMPONENT: &[u8] = b"\0asm fixture component";

/// Writes the fixture's rows.
pub(super) async fn fill(store: &dyn Store) {
    let catalogue = Catalogue {
        orchestrators: vec!["orch".into()],
        activities: vec!["work".into()],
        entities: vec!["counter".into()],
    };
    store
        .put_component(DIGEST, COMPONENT, &catalogue, T0, Labels::default())
        .await
        .unwrap();

    // `waiting`: its first turn scheduled an activity and a timer, and an event waits.
    let (item, mut commit) = first_turn(
        store,
        "waiting",
        T0,
        vec![
            EventKind::TaskScheduled {
                name: "work".into(),
                input: "0".into(),
            },
            EventKind::TimerCreated {
                fire_at: T0 + 60_000,
            },
        ],
    )
    .await;
    commit.custom_status = Some(Some("\"waiting\"".into()));
    commit.activities = vec![activity(0, "work", T0 + 1)];
    commit.messages = vec![timer(&item, 1, T0 + 60_000)];
    commit.logs = vec![LogLine {
        timestamp: T0 + 1,
        level: "info".into(),
        message: "turn one".into(),
    }];
    store.complete_orchestration(commit).await.unwrap();
    store
        .send_message("waiting", raised("approval"), T0 + 2, T0 + 2)
        .await
        .unwrap();

    // `done`: completed in its first turn.
    let (_, mut commit) = first_turn(
        store,
        "done",
        T0 + 10,
        vec![EventKind::ExecutionCompleted {
            result: Some("42".into()),
            failure: None,
        }],
    )
    .await;
    commit.status = RuntimeStatus::Completed;
    commit.output = Some("42".into());
    store.complete_orchestration(commit).await.unwrap();

    // `counter@a` holds state; `counter@b` has an operation queued.
    let add = |key: &str| EntityMessage {
        entity: EntityId {
            name: "counter".into(),
            key: key.into(),
        },
        operation: "add".into(),
        input: "5".into(),
        caller: None,
        sender: None,
        visible_at: T0 + 20,
    };
    store.send_entity_message(add("a")).await.unwrap();
    let items = store
        .lock_entities("fill", 10, 10, LEASE, T0 + 20)
        .await
        .unwrap();
    let item = &items[0];
    store
        .complete_entity(EntityCommit {
            entity: item.entity.clone(),
            lock_token: item.lock_token.clone(),
            state: Some("5".into()),
            locked_by: None,
            consumed: item.messages.iter().map(|m| m.id).collect(),
            responses: Vec::new(),
            signals: Vec::new(),
            new_instances: Vec::new(),
            now: T0 + 21,
        })
        .await
        .unwrap();
    store.send_entity_message(add("b")).await.unwrap();
}

/// Creates `id` at `at` and plans its first turn, a ms later: the turn's start, the
/// execution's start, then `events` (numbered from 0 as the code decided them).
async fn first_turn(
    store: &dyn Store,
    id: &str,
    at: Timestamp,
    events: Vec<EventKind>,
) -> (OrchestrationWorkItem, OrchestrationCommit) {
    create(store, id, at).await;
    let item = lock_one(store, "fill", id, at).await;
    let started = item.messages[0].event.clone();
    let mut commit = empty_commit(&item, at + 1);
    commit.new_history = vec![
        event(0, at + 1, EventKind::OrchestratorStarted),
        event(1, at + 1, started),
    ];
    for (n, kind) in events.into_iter().enumerate() {
        commit.new_history.push(event(n as u32, at + 1, kind));
    }
    (item, commit)
}

/// Finds everything [`fill`] wrote, as the engine reads it.
pub(super) async fn check(store: &dyn Store) {
    let components = store.components().await.unwrap();
    assert_eq!(components.len(), 1);
    assert_eq!(components[0].digest, DIGEST);
    assert_eq!(components[0].catalogue.activities, ["work"]);
    assert_eq!(
        store.component_bytes(DIGEST).await.unwrap().as_deref(),
        Some(COMPONENT)
    );

    let instances = store
        .list_instances(&InstanceFilter::default())
        .await
        .unwrap();
    let summary: Vec<_> = instances
        .iter()
        .map(|i| (i.instance_id.as_str(), i.status, i.output.as_deref()))
        .collect();
    assert_eq!(
        summary,
        [
            ("waiting", RuntimeStatus::Running, None),
            ("done", RuntimeStatus::Completed, Some("42")),
        ]
    );
    assert_eq!(instances[0].custom_status.as_deref(), Some("\"waiting\""));
    assert_eq!(instances[1].completed_at, Some(T0 + 11));
    assert_eq!(store.history("waiting").await.unwrap().len(), 4);
    assert_eq!(store.history("done").await.unwrap().len(), 3);
    assert_eq!(store.logs("waiting").await.unwrap()[0].message, "turn one");

    let all = EntityFilter {
        include_empty: true,
        ..EntityFilter::default()
    };
    let entities = store.list_entities(&all).await.unwrap();
    let summary: Vec<_> = entities
        .iter()
        .map(|e| (e.key.as_str(), e.state.as_deref(), e.pending))
        .collect();
    assert_eq!(summary, [("a", Some("5"), 0), ("b", None, 1)]);

    // The work is where it was: the event now, the activity, the timer when due, the
    // queued operation.
    let item = lock_one(store, "check", "waiting", T0 + 30).await;
    assert_eq!(item.history_len, 4);
    assert_eq!(labels(&item.messages), ["EventRaised"]);
    let tasks = store
        .lock_activities("check", 10, LEASE, T0 + 30)
        .await
        .unwrap();
    assert_eq!(tasks.len(), 1);
    assert_eq!((tasks[0].name.as_str(), tasks[0].attempt), ("work", 1));
    assert_eq!(tasks[0].trace, None, "queued before tasks carried a trace");
    store
        .abandon_orchestration("waiting", &item.lock_token, T0 + 30)
        .await
        .unwrap();
    let item = lock_one(store, "check", "waiting", T0 + 60_000).await;
    assert_eq!(labels(&item.messages), ["EventRaised", "TimerFired"]);
    let batches = store
        .lock_entities("check", 10, 10, LEASE, T0 + 30)
        .await
        .unwrap();
    assert_eq!(batches.len(), 1);
    assert_eq!(batches[0].entity.key, "b");
    assert_eq!(batches[0].messages[0].operation, "add");
}

/// What [`fill`] writes, [`check`] finds (on the current schema).
pub(super) async fn filled_stores_read_back(store: &dyn Store) {
    fill(store).await;
    check(store).await;
}
