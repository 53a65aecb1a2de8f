//! Many requests at once: all land, and a failing one rolls back alone.

use super::*;

// Group commit

pub(super) async fn concurrent_writes_all_land(store: &dyn Store) {
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

pub(super) async fn a_failing_request_does_not_roll_back_its_group(store: &dyn Store) {
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

/// Turns and activity results committed at once, some with tokens that no longer hold their
/// work (another host took it over): the held ones land whole, the others write nothing and
/// are refused alone, and messages to finished instances are dropped.
pub(super) async fn concurrent_turns_and_results_are_fenced_one_by_one(store: &dyn Store) {
    create(store, "finished", T0).await;
    let item = lock_one(store, "w", "finished", T0).await;
    let mut commit = empty_commit(&item, T0);
    commit.status = RuntimeStatus::Completed;
    store.complete_orchestration(commit).await.unwrap();
    for i in 0..40 {
        create(store, &format!("t{i:02}"), T0).await;
    }
    let mut items = store
        .lock_orchestrations("w", 1_000, LEASE, T0 + 1)
        .await
        .unwrap();
    items.sort_by(|a, b| a.instance.instance_id.cmp(&b.instance.instance_id));
    assert_eq!(items.len(), 40);
    let mut turns: Vec<Pin<Box<dyn Future<Output = StoreResult<()>> + Send + '_>>> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let mut commit = empty_commit(item, T0 + 1);
        commit.new_history = vec![
            event(0, T0 + 1, EventKind::OrchestratorStarted),
            event(1, T0 + 1, item.messages[0].event.clone()),
        ];
        commit.activities = vec![activity(0, "work", T0 + 1)];
        commit.messages = vec![
            timer(item, 7, T0 + 9_000),
            OutboundMessage {
                instance_id: "finished".into(),
                execution_id: None,
                event: raised("late"),
                visible_at: T0 + 1,
                timer_id: None,
            },
        ];
        commit.logs = vec![LogLine {
            timestamp: T0 + 1,
            level: "info".into(),
            message: format!("turn of {i}"),
        }];
        if i % 2 == 1 {
            commit.lock_token = "taken over".into();
        }
        turns.push(Box::pin(store.complete_orchestration(commit)));
    }
    for (i, result) in join_all(turns).await.into_iter().enumerate() {
        let id = format!("t{i:02}");
        if i % 2 == 0 {
            result.unwrap_or_else(|e| panic!("{id}: {e}"));
            assert_eq!(store.history(&id).await.unwrap().len(), 2, "{id}");
            assert_eq!(
                store.logs(&id).await.unwrap()[0].message,
                format!("turn of {i}")
            );
        } else {
            assert!(
                matches!(result, Err(StoreError::LeaseLost)),
                "{id}: {result:?}"
            );
            assert!(store.history(&id).await.unwrap().is_empty(), "{id}");
            assert!(store.logs(&id).await.unwrap().is_empty(), "{id}");
        }
    }
    assert!(
        store.instance("finished").await.unwrap().is_some()
            && lockable(store, T0 + 2).await.is_empty(),
        "no message reached the finished instance; the refused turns' instances stay locked"
    );
    assert_eq!(
        store.next_wakeup(T0 + 2).await.unwrap(),
        Some(T0 + 1 + LEASE),
        "the refused turns' locks expire first; the timers come later"
    );

    let mut tasks = store
        .lock_activities("w", 1_000, LEASE, T0 + 2)
        .await
        .unwrap();
    tasks.sort_by(|a, b| a.instance_id.cmp(&b.instance_id));
    assert_eq!(tasks.len(), 20, "one task per written turn");
    let mut results: Vec<Pin<Box<dyn Future<Output = StoreResult<()>> + Send + '_>>> = Vec::new();
    for (i, task) in tasks.iter_mut().enumerate() {
        if i % 4 == 3 {
            task.lock_token = "taken over".into();
        }
        let logs = vec![LogLine {
            timestamp: T0 + 2,
            level: "info".into(),
            message: format!("ran {}", task.instance_id),
        }];
        let result = EventKind::TaskCompleted {
            task_id: 0,
            result: format!("{i}"),
        };
        results.push(Box::pin(store.complete_activity(
            task,
            result,
            logs,
            T0 + 2,
        )));
    }
    for (i, result) in join_all(results).await.into_iter().enumerate() {
        let id = &tasks[i].instance_id;
        let logs = store.logs(id).await.unwrap();
        if i % 4 == 3 {
            assert!(
                matches!(result, Err(StoreError::LeaseLost)),
                "{id}: {result:?}"
            );
            assert_eq!(logs.len(), 1, "{id}: the turn's line only");
        } else {
            result.unwrap_or_else(|e| panic!("{id}: {e}"));
            assert_eq!(logs[1].message, format!("ran {id}"));
        }
    }
    let delivered = store
        .lock_orchestrations("w", 1_000, LEASE, T0 + 3)
        .await
        .unwrap();
    let mut answered: Vec<(String, Vec<&str>)> = delivered
        .iter()
        .map(|item| (item.instance.instance_id.clone(), labels(&item.messages)))
        .collect();
    answered.sort();
    let expected: Vec<(String, Vec<&str>)> = (0..20)
        .filter(|i| i % 4 != 3)
        .map(|i| (format!("t{:02}", i * 2), vec!["TaskCompleted"]))
        .collect();
    assert_eq!(
        answered, expected,
        "each held result delivered once, to its instance"
    );
}
