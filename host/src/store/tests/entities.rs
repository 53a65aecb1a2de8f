//! Entities: inbox order, leases, critical section holders, responses to callers, listing
//! and cleanup.

use super::*;
use crate::types::EntityId;

fn id(key: &str) -> EntityId {
    EntityId {
        name: "counter".into(),
        key: key.into(),
    }
}

pub(super) fn message(
    key: &str,
    operation: &str,
    caller: Option<&str>,
    at: Timestamp,
) -> EntityMessage {
    EntityMessage {
        entity: id(key),
        operation: operation.into(),
        input: "1".into(),
        caller: caller.map(|c| EntityCaller {
            instance_id: c.into(),
            execution_id: format!("{c}-exec"),
            task_id: 7,
        }),
        sender: caller.map(Into::into),
        visible_at: at,
    }
}

/// The operations of a locked entity's messages, in order.
fn operations(item: &EntityWorkItem) -> Vec<&str> {
    item.messages.iter().map(|m| m.operation.as_str()).collect()
}

fn commit(item: &EntityWorkItem, state: Option<&str>, now: Timestamp) -> EntityCommit {
    EntityCommit {
        entity: item.entity.clone(),
        lock_token: item.lock_token.clone(),
        state: state.map(Into::into),
        locked_by: item.locked_by.clone(),
        consumed: item.messages.iter().map(|m| m.id).collect(),
        responses: Vec::new(),
        signals: Vec::new(),
        new_instances: Vec::new(),
        now,
    }
}

pub(super) async fn messages_come_in_order_and_scheduled_ones_wait(store: &dyn Store) {
    store
        .send_entity_message(message("a", "later", None, T0 + 500))
        .await
        .unwrap();
    for op in ["one", "two"] {
        store
            .send_entity_message(message("a", op, None, T0))
            .await
            .unwrap();
    }
    let items = store.lock_entities("h", 10, 100, LEASE, T0).await.unwrap();
    assert_eq!(items.len(), 1);
    let ops = operations(&items[0]);
    assert_eq!(ops, ["one", "two"]);
    assert_eq!(items[0].state, None);
    // Locked: nobody else gets it while the lease lasts.
    assert!(
        store
            .lock_entities("h2", 10, 100, LEASE, T0)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.next_wakeup(T0).await.unwrap(), Some(T0 + 500));
    store
        .complete_entity(commit(&items[0], Some("2"), T0))
        .await
        .unwrap();
    let later = store
        .lock_entities("h", 10, 100, LEASE, T0 + 500)
        .await
        .unwrap();
    assert_eq!(later[0].messages[0].operation, "later");
    assert_eq!(later[0].state.as_deref(), Some("2"));
}

pub(super) async fn a_lost_lease_writes_nothing(store: &dyn Store) {
    store
        .send_entity_message(message("a", "add", None, T0))
        .await
        .unwrap();
    let first = store.lock_entities("h1", 1, 100, LEASE, T0).await.unwrap();
    let second = store
        .lock_entities("h2", 1, 100, LEASE, T0 + LEASE)
        .await
        .unwrap();
    assert_eq!(second.len(), 1, "an expired lease is taken over");
    let lost = store
        .complete_entity(commit(&first[0], Some("9"), T0))
        .await;
    assert!(matches!(lost, Err(StoreError::LeaseLost)), "{lost:?}");
    store
        .complete_entity(commit(&second[0], Some("1"), T0 + LEASE))
        .await
        .unwrap();
    let record = store.entity(&id("a")).await.unwrap().unwrap();
    assert_eq!(
        (
            record.state.as_deref(),
            record.pending,
            record.last_operation_at
        ),
        (Some("1"), 0, T0 + LEASE)
    );
}

pub(super) async fn a_held_entity_sees_only_its_holders_messages(store: &dyn Store) {
    store
        .send_entity_message(message("a", "lock", Some("o1"), T0))
        .await
        .unwrap();
    let items = store.lock_entities("h", 1, 100, LEASE, T0).await.unwrap();
    let mut held = commit(&items[0], None, T0);
    held.locked_by = Some("o1".into());
    store.complete_entity(held).await.unwrap();
    let record = store.entity(&id("a")).await.unwrap().expect("stored");
    assert_eq!(
        record.locked_by.as_deref(),
        Some("o1"),
        "the holder is shown"
    );
    store
        .send_entity_message(message("a", "other", Some("o2"), T0))
        .await
        .unwrap();
    store
        .send_entity_message(message("a", "signal", None, T0))
        .await
        .unwrap();
    assert!(
        store
            .lock_entities("h", 1, 100, LEASE, T0)
            .await
            .unwrap()
            .is_empty()
    );
    // The holder's own signal (no caller to answer, but sent by o1) and call, in order.
    let holders_signal = EntityMessage {
        caller: None,
        ..message("a", "my signal", Some("o1"), T0)
    };
    store.send_entity_message(holders_signal).await.unwrap();
    store
        .send_entity_message(message("a", "mine", Some("o1"), T0))
        .await
        .unwrap();
    let items = store.lock_entities("h", 1, 100, LEASE, T0).await.unwrap();
    let ops = operations(&items[0]);
    assert_eq!(ops, ["my signal", "mine"]);
    assert_eq!(items[0].locked_by.as_deref(), Some("o1"));
    let mut released = commit(&items[0], None, T0);
    released.locked_by = None;
    store.complete_entity(released).await.unwrap();
    let items = store.lock_entities("h", 1, 100, LEASE, T0).await.unwrap();
    let ops = operations(&items[0]);
    assert_eq!(ops, ["other", "signal"]);
}

pub(super) async fn responses_reach_running_callers_only(store: &dyn Store) {
    let caller = NewInstance {
        instance_id: "o1".into(),
        name: "orch".into(),
        execution_id: "o1-exec".into(),
        digest: "sha256:test".into(),
        input: "null".into(),
        parent: None,
        created_at: T0,
        version: None,
        trace: None,
    };
    store.create_instance(caller).await.unwrap();
    store
        .send_entity_message(message("a", "get", Some("o1"), T0))
        .await
        .unwrap();
    let items = store.lock_entities("h", 1, 100, LEASE, T0).await.unwrap();
    let mut done = commit(&items[0], Some("5"), T0);
    let respond = |instance_id: &str, execution_id: &str| OutboundMessage {
        instance_id: instance_id.into(),
        execution_id: Some(execution_id.into()),
        event: EventKind::EntityResponded {
            task_id: 7,
            result: Ok("5".into()),
        },
        visible_at: T0,
        timer_id: None,
    };
    done.responses = vec![
        respond("o1", "o1-exec"),
        respond("o1", "an-old-execution"),
        respond("gone", "gone-exec"),
    ];
    done.signals = vec![message("b", "add", None, T0)];
    store.complete_entity(done).await.unwrap();
    let orchestrations = store.lock_orchestrations("h", 10, LEASE, T0).await.unwrap();
    let labels: Vec<_> = orchestrations[0]
        .messages
        .iter()
        .map(|m| m.event.label())
        .collect();
    assert_eq!(labels, ["ExecutionStarted", "EntityResponded"]);
    assert_eq!(store.entity(&id("b")).await.unwrap().unwrap().pending, 1);
}

pub(super) async fn listing_pages_and_empty_entities_are_deleted(store: &dyn Store) {
    for key in ["a", "b", "c"] {
        store
            .send_entity_message(message(key, "add", None, T0))
            .await
            .unwrap();
    }
    for (i, item) in store
        .lock_entities("h", 10, 100, LEASE, T0)
        .await
        .unwrap()
        .iter()
        .enumerate()
    {
        let state = (item.entity.key != "b").then_some("1");
        store
            .complete_entity(commit(item, state, T0 + i as u64))
            .await
            .unwrap();
    }
    let keys = |records: Vec<EntityRecord>| -> Vec<String> {
        records.into_iter().map(|r| r.key).collect()
    };
    let page = EntityFilter {
        limit: Some(1),
        ..Default::default()
    };
    assert_eq!(keys(store.list_entities(&page).await.unwrap()), ["a"]);
    let next = EntityFilter {
        after: Some(id("a")),
        ..page.clone()
    };
    assert_eq!(keys(store.list_entities(&next).await.unwrap()), ["c"]);
    let all = EntityFilter {
        include_empty: true,
        ..Default::default()
    };
    assert_eq!(
        keys(store.list_entities(&all).await.unwrap()),
        ["a", "b", "c"]
    );
    let other_name = EntityFilter {
        name: Some("account".into()),
        ..Default::default()
    };
    assert!(store.list_entities(&other_name).await.unwrap().is_empty());
    assert_eq!(store.delete_empty_entities(T0 + 10).await.unwrap(), 1);
    assert_eq!(store.entity(&id("b")).await.unwrap(), None);
}
