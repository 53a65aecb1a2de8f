//! Components, creating instances, messages to them, listing, rewind.

use super::*;

// Components

pub(super) async fn components_are_stored_by_digest_newest_first(store: &dyn Store) {
    let catalogue = Catalogue {
        orchestrators: vec!["a".into()],
        ..Default::default()
    };
    store
        .put_component("sha256:a", b"AAA", &catalogue, T0, Labels::default())
        .await
        .unwrap();
    store
        .put_component(
            "sha256:b",
            b"BBB",
            &Catalogue::default(),
            T0 + 1,
            Labels::default(),
        )
        .await
        .unwrap();
    let digests = |c: Vec<ComponentRecord>| c.into_iter().map(|c| c.digest).collect::<Vec<_>>();
    assert_eq!(
        digests(store.components().await.unwrap()),
        ["sha256:b", "sha256:a"]
    );
    // Deploying the same digest again makes it the newest, nothing more.
    store
        .put_component("sha256:a", b"AAA", &catalogue, T0 + 2, Labels::default())
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

/// A retired component keeps its first retirement time until it is stored again; collection
/// deletes only retired components, retired long enough, that no unfinished or failed instance
/// and no queued activity needs.
pub(super) async fn retired_components_nothing_needs_are_collected(store: &dyn Store) {
    let catalogue = Catalogue::default();
    for digest in [DIGEST, "sha256:idle", "sha256:live", "sha256:late"] {
        store
            .put_component(digest, b"bytes", &catalogue, T0, Labels::default())
            .await
            .unwrap();
    }
    assert!(!store.retire_component("sha256:nope", T0).await.unwrap());
    for digest in [DIGEST, "sha256:idle", "sha256:live"] {
        assert!(store.retire_component(digest, T0 + 1).await.unwrap());
    }
    assert!(store.retire_component("sha256:idle", T0 + 9).await.unwrap());
    store.retire_component("sha256:late", T0 + 5).await.unwrap();
    let retired = |components: Vec<ComponentRecord>| {
        components
            .into_iter()
            .map(|c| (c.digest, c.retired_at))
            .collect::<Vec<_>>()
    };
    let listed = retired(store.components().await.unwrap());
    assert!(
        listed.contains(&("sha256:idle".into(), Some(T0 + 1))),
        "{listed:?}"
    );
    // DIGEST runs an unfinished instance; `live` has a queued activity.
    create(store, "pinned", T0).await;
    let item = lock_one(store, "w", "pinned", T0).await;
    let mut commit = empty_commit(&item, T0);
    commit.activities = vec![NewActivity {
        digest: "sha256:live".into(),
        ..activity(0, "work", T0)
    }];
    store.complete_orchestration(commit).await.unwrap();

    let would = store.collect_components(T0 + 1, true).await.unwrap();
    assert_eq!(would, ["sha256:idle"], "late was retired after T0 + 1");
    assert!(
        store
            .component_bytes("sha256:idle")
            .await
            .unwrap()
            .is_some(),
        "a dry run deletes nothing"
    );
    let gone = store.collect_components(T0 + 5, false).await.unwrap();
    let mut gone = gone;
    gone.sort();
    assert_eq!(gone, ["sha256:idle", "sha256:late"]);
    assert_eq!(store.component_bytes("sha256:idle").await.unwrap(), None);
    let left: Vec<String> = store
        .components()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.digest)
        .collect();
    assert_eq!(left, ["sha256:live", DIGEST]);

    // Stored again, a retired component is current again.
    store
        .put_component(
            "sha256:live",
            b"bytes",
            &catalogue,
            T0 + 6,
            Labels::default(),
        )
        .await
        .unwrap();
    let listed = retired(store.components().await.unwrap());
    assert_eq!(listed[0], ("sha256:live".into(), None));
    assert!(
        store
            .collect_components(T0 + 100, false)
            .await
            .unwrap()
            .is_empty()
    );
}

// create_instance

pub(super) async fn create_instance_enqueues_execution_started(store: &dyn Store) {
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
            version: None,
            trace: None,
        }
    );
}

/// A start that claims its first turn ([`Claim`]) locks the new instance with its
/// `ExecutionStarted`, and no one else can lock it; a refused start claims nothing.
pub(super) async fn a_start_claims_its_first_turn(store: &dyn Store) {
    claiming_a_first_turn(store).await;
}

/// See [`a_start_claims_its_first_turn`]; whether the turn was claimed (a backend may claim
/// none).
pub(super) async fn claiming_a_first_turn(store: &dyn Store) -> bool {
    let claim = Some(Claim {
        owner: "me",
        max: 1,
        lease_ms: LEASE,
    });
    let started = new_instance("a", "orch", T0);
    let claimed = store
        .create_instance_claiming(started, claim)
        .await
        .unwrap();
    let duplicate = new_instance("a", "orch", T0 + 1);
    let refused = store.create_instance_claiming(duplicate, claim).await;
    assert!(
        matches!(refused, Err(StoreError::InstanceExists(_))),
        "{refused:?}"
    );
    let Some(item) = claimed else {
        assert_eq!(lockable(store, T0 + 1).await, ["a"]);
        return false;
    };
    assert_eq!(item.instance.instance_id, "a");
    assert!(item.lock_token.contains("/me/"), "{}", item.lock_token);
    assert_eq!(labels(&item.messages), ["ExecutionStarted"]);
    assert_eq!(lockable(store, T0 + 1).await, Vec::<String>::new());
    store
        .complete_orchestration(empty_commit(&item, T0 + 1))
        .await
        .unwrap();
    true
}

pub(super) async fn create_instance_refuses_an_unfinished_duplicate(store: &dyn Store) {
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

pub(super) async fn create_instance_replaces_a_finished_one(store: &dyn Store) {
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

// send_message

pub(super) async fn send_message_to_unknown_or_finished_instances_writes_nothing(
    store: &dyn Store,
) {
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

// list_instances

pub(super) async fn list_instances_filters_by_status_prefix_name_digest_range_and_limit(
    store: &dyn Store,
) {
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

    store
        .create_instance(new_instance("order-4", "report", T0 + 60))
        .await
        .unwrap();
    let by_name = |name: &str| InstanceFilter {
        name: Some(name.to_owned()),
        ..Default::default()
    };
    assert_eq!(list(by_name("report")).await, ["order-4"]);
    assert_eq!(list(by_name("orch")).await.len(), 6);
    assert!(list(by_name("Report")).await.is_empty(), "names are exact");
    let name_and_prefix = InstanceFilter {
        id_prefix: Some("order-".into()),
        ..by_name("orch")
    };
    assert_eq!(
        list(name_and_prefix).await,
        ["order-1", "order-2", "order-3"]
    );
    let on = |digest: &str| InstanceFilter {
        digest: Some(digest.to_owned()),
        ..Default::default()
    };
    assert_eq!(list(on(DIGEST)).await.len(), 7);
    assert!(list(on("sha256:other")).await.is_empty());
}

/// Keyset paging: following `after` from the last record of each page
/// visits every instance exactly once, in list order, also when several
/// share a creation time and when instances are added between pages.
pub(super) async fn list_instances_pages_with_a_keyset_cursor(store: &dyn Store) {
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

    // Newest first: the same instances, every one once, in the reverse order.
    let mut newest_first = Vec::new();
    let mut filter = InstanceFilter {
        limit: Some(4),
        newest_first: true,
        ..Default::default()
    };
    loop {
        let page = store.list_instances(&filter).await.unwrap();
        let Some(last) = page.last() else { break };
        filter.after = Some(ListCursor {
            created_at: last.created_at,
            instance_id: last.instance_id.clone(),
        });
        newest_first.extend(page.into_iter().map(|r| r.instance_id));
    }
    let mut all = expected.clone();
    all.insert(3, "i00z".into());
    all.reverse();
    assert_eq!(newest_first, all);
}

/// A rewind writes the plan it is given (history, activities, wake-up, status) only if the
/// instance is still the failed execution, with the history, the plan was made from.
pub(super) async fn a_rewind_writes_its_plan_unless_the_instance_changed(store: &dyn Store) {
    let failure = Failure::new("Boom", "it broke");
    create(store, "r", T0).await;
    let item = lock_one(store, "w", "r", T0).await;
    let mut commit = empty_commit(&item, T0);
    commit.new_history = vec![
        event(0, T0, EventKind::OrchestratorStarted),
        event(
            0,
            T0,
            EventKind::TaskScheduled {
                name: "a".into(),
                input: "1".into(),
            },
        ),
        event(
            2,
            T0,
            EventKind::ExecutionCompleted {
                result: None,
                failure: Some(failure.clone()),
            },
        ),
    ];
    commit.status = RuntimeStatus::Failed;
    commit.failure = Some(failure);
    store.complete_orchestration(commit).await.unwrap();
    let failed = store.instance("r").await.unwrap().unwrap();
    let history = store.history("r").await.unwrap();
    let rewind = |execution_id: &str, history_len: u32| RewindCommit {
        instance_id: "r".into(),
        execution_id: execution_id.into(),
        history_len,
        history: history[..2].to_vec(),
        activities: vec![activity(0, "a", T0 + 5)],
        messages: vec![EventKind::ExecutionResumed {
            reason: Some("rewound".into()),
        }],
        now: T0 + 5,
    };

    let stale = store.rewind(rewind("another-execution", 3)).await;
    assert!(matches!(stale, Err(StoreError::Conflict(_))), "{stale:?}");
    let stale = store.rewind(rewind(&failed.execution_id, 2)).await;
    assert!(matches!(stale, Err(StoreError::Conflict(_))), "{stale:?}");
    assert_eq!(
        store.history("r").await.unwrap(),
        history,
        "nothing written"
    );
    let missing = RewindCommit {
        instance_id: "missing".into(),
        ..rewind(&failed.execution_id, 3)
    };
    let missing = store.rewind(missing).await;
    assert!(
        matches!(missing, Err(StoreError::InstanceNotFound(_))),
        "{missing:?}"
    );

    store.rewind(rewind(&failed.execution_id, 3)).await.unwrap();
    let rewound = store.instance("r").await.unwrap().unwrap();
    assert_eq!(rewound.status, RuntimeStatus::Running);
    assert_eq!((rewound.failure, rewound.completed_at), (None, None));
    assert_eq!(store.history("r").await.unwrap(), history[..2]);
    let tasks = store.lock_activities("w", 10, LEASE, T0 + 5).await.unwrap();
    let [task] = tasks.as_slice() else {
        panic!("one activity: {tasks:?}");
    };
    assert_eq!((task.task_id, task.name.as_str()), (0, "a"));
    assert_eq!(task.execution_id, failed.execution_id);
    let item = lock_one(store, "w", "r", T0 + 5).await;
    assert_eq!(labels(&item.messages), ["ExecutionResumed"]);
    assert_eq!(item.history_len, 2);

    let again = store.rewind(rewind(&failed.execution_id, 2)).await;
    assert!(
        matches!(again, Err(StoreError::InstanceNotFailed(..))),
        "{again:?}"
    );
}

pub(super) async fn pinned_counts_count_unfinished_instances_by_digest(store: &dyn Store) {
    assert!(store.pinned_counts().await.unwrap().is_empty());
    for (id, digest) in [
        ("a1", "sha256:a"),
        ("a2", "sha256:a"),
        ("a3", "sha256:a"),
        ("b1", "sha256:b"),
    ] {
        let mut instance = new_instance(id, "orch", T0);
        instance.digest = digest.into();
        store.create_instance(instance).await.unwrap();
    }
    let item = lock_one(store, "w", "a3", T0).await;
    let mut finished = empty_commit(&item, T0 + 1);
    finished.status = RuntimeStatus::Completed;
    store.complete_orchestration(finished).await.unwrap();
    assert_eq!(
        store.pinned_counts().await.unwrap(),
        [("sha256:a".to_owned(), 2), ("sha256:b".to_owned(), 1)],
        "a finished instance pins nothing"
    );
}

/// An upgrade moves an unfinished instance to another digest and appends its event, only if
/// the instance is still the execution, digest and history length that were checked and no
/// turn holds it; it fences a stale lease.
pub(super) async fn an_upgrade_moves_an_idle_instance_unless_it_changed(store: &dyn Store) {
    create(store, "u", T0).await;
    let item = lock_one(store, "w", "u", T0).await;
    let mut commit = empty_commit(&item, T0);
    commit.new_history = vec![event(0, T0, EventKind::OrchestratorStarted)];
    store.complete_orchestration(commit).await.unwrap();
    let before = store.instance("u").await.unwrap().unwrap();
    let upgraded = HistoryEvent {
        event_id: None,
        timestamp: T0 + 1,
        kind: EventKind::ExecutionUpgraded {
            from: before.digest.clone(),
            to: "sha256:new".into(),
        },
    };
    let upgrade = |history_len: u32, from: &str, now: Timestamp| UpgradeCommit {
        instance_id: "u".into(),
        execution_id: before.execution_id.clone(),
        history_len,
        from: from.into(),
        to: "sha256:new".into(),
        event: Some(upgraded.clone()),
        now,
    };
    for stale in [
        upgrade(0, &before.digest, T0 + 1),
        upgrade(1, "sha256:other", T0 + 1),
    ] {
        let refused = store.upgrade(stale).await;
        assert!(
            matches!(refused, Err(StoreError::Conflict(_))),
            "{refused:?}"
        );
    }
    let missing = store
        .upgrade(UpgradeCommit {
            instance_id: "missing".into(),
            ..upgrade(1, &before.digest, T0 + 1)
        })
        .await;
    assert!(
        matches!(missing, Err(StoreError::InstanceNotFound(_))),
        "{missing:?}"
    );

    // A turn in progress holds it: refused until its lease has expired; then the upgrade
    // fences the holder, whose commit is refused.
    store
        .send_message("u", raised("go"), T0 + 1, T0 + 1)
        .await
        .unwrap();
    let held = lock_one(store, "w", "u", T0 + 1).await;
    let busy = store.upgrade(upgrade(1, &before.digest, T0 + 2)).await;
    assert!(matches!(busy, Err(StoreError::Conflict(_))), "{busy:?}");
    assert_eq!(
        store.history("u").await.unwrap().len(),
        1,
        "nothing written"
    );
    let expired = T0 + 1 + LEASE + 1;
    store
        .upgrade(upgrade(1, &before.digest, expired))
        .await
        .unwrap();
    let late = store
        .complete_orchestration(empty_commit(&held, expired))
        .await;
    assert!(matches!(late, Err(StoreError::LeaseLost)), "{late:?}");
    let after = store.instance("u").await.unwrap().unwrap();
    assert_eq!(after.digest, "sha256:new");
    assert_eq!(after.updated_at, expired);
    let history = store.history("u").await.unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[1].kind, upgraded.kind);
    let item = lock_one(store, "w", "u", expired).await;
    assert_eq!(item.history_len, 2, "the next turn sees the event");
    assert_eq!(
        labels(&item.messages),
        ["EventRaised"],
        "the message waits for it"
    );
    assert_eq!(item.instance.digest, "sha256:new");

    // A finished instance is never moved.
    let mut commit = empty_commit(&item, expired);
    commit.status = RuntimeStatus::Completed;
    store.complete_orchestration(commit).await.unwrap();
    let done = store
        .upgrade(UpgradeCommit {
            from: "sha256:new".into(),
            ..upgrade(2, "sha256:new", expired + 1)
        })
        .await;
    assert!(matches!(done, Err(StoreError::Conflict(_))), "{done:?}");
}

/// The backlog counts instances by status and the work ready at the moment asked about:
/// ready messages, due timers, ready and running activity tasks.
pub(super) async fn backlog_counts_instances_and_ready_work(store: &dyn Store) {
    assert_eq!(store.backlog(T0).await.unwrap(), Backlog::default());
    create(store, "a", T0).await;
    // a's first turn schedules an activity (ready at once) and a timer firing at T0 + 500.
    let item = lock_one(store, "w", "a", T0 + 20).await;
    let mut commit = empty_commit(&item, T0 + 20);
    commit.activities.push(activity(0, "work", T0 + 20));
    commit.messages.push(timer(&item, 1, T0 + 500));
    store.complete_orchestration(commit).await.unwrap();
    create(store, "b", T0 + 30).await;

    let backlog = store.backlog(T0 + 100).await.unwrap();
    let mut instances = backlog.instances.clone();
    instances.sort_by_key(|(status, _)| status.as_str());
    assert_eq!(
        instances,
        [(RuntimeStatus::Pending, 1), (RuntimeStatus::Running, 1)]
    );
    let queue = |count, oldest| Queue { count, oldest };
    assert_eq!(backlog.messages, queue(1, Some(T0 + 30)), "b's start");
    assert_eq!(backlog.timers, queue(0, None), "not due yet");
    assert_eq!(backlog.activities, queue(1, Some(T0 + 20)));
    assert_eq!(backlog.running_activities, 0);
    assert_eq!(backlog.entity_messages, queue(0, None));

    // Later the timer is due, and a worker runs the activity.
    let locked = store
        .lock_activities("w", 10, LEASE, T0 + 600)
        .await
        .unwrap();
    assert_eq!(locked.len(), 1);
    let backlog = store.backlog(T0 + 600).await.unwrap();
    assert_eq!(backlog.messages, queue(2, Some(T0 + 30)));
    assert_eq!(backlog.timers, queue(1, Some(T0 + 500)));
    assert_eq!(backlog.activities, queue(0, None));
    assert_eq!(backlog.running_activities, 1);
}
