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
