//! The activity queue: locking, delivering results once, leases.

use super::*;

// Activities

/// Creates `id` and commits a first turn scheduling activity task 0.
pub(super) async fn with_scheduled_activity(store: &dyn Store, id: &str) -> String {
    create(store, id, T0).await;
    let item = lock_one(store, "w", id, T0).await;
    let mut commit = empty_commit(&item, T0);
    commit.activities = vec![activity(0, "work", T0)];
    store.complete_orchestration(commit).await.unwrap();
    item.instance.execution_id
}

/// Each task is handed out with the trace context its turn queued it with, or none.
pub(super) async fn a_task_keeps_the_trace_it_was_queued_with(store: &dyn Store) {
    const TRACE: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    create(store, "a", T0).await;
    let item = lock_one(store, "w", "a", T0).await;
    let mut commit = empty_commit(&item, T0);
    let traced = NewActivity {
        trace: Some(TRACE.to_owned()),
        ..activity(0, "work", T0)
    };
    commit.activities = vec![traced, activity(1, "work", T0)];
    store.complete_orchestration(commit).await.unwrap();
    let tasks = store.lock_activities("w1", 10, LEASE, T0).await.unwrap();
    let traces: Vec<_> = tasks
        .iter()
        .map(|t| (t.task_id, t.trace.as_deref()))
        .collect();
    assert_eq!(traces, [(0, Some(TRACE)), (1, None)]);
}

/// Each task is handed out with the app of the component it was queued on, as that component
/// is labelled when the task is locked: none, then the app a deployment names, kept by a
/// redeployment that names none.
pub(super) async fn a_task_carries_the_app_of_its_component(store: &dyn Store) {
    let catalogue = Catalogue::default();
    let deploy = async |app| {
        let labels = Labels {
            app,
            ..Labels::default()
        };
        (store.put_component(DIGEST, b"bytes", &catalogue, T0, labels))
            .await
            .unwrap();
    };
    // Each lock comes after the last one's lease ran out.
    let apps = async |attempt: u64| -> Vec<Option<String>> {
        let now = T0 + attempt * LEASE;
        let tasks = store.lock_activities("w", 10, LEASE, now).await.unwrap();
        tasks.into_iter().map(|t| t.app).collect()
    };
    with_scheduled_activity(store, "a").await;
    assert_eq!(apps(0).await, [None]);
    deploy(Some("billing")).await;
    assert_eq!(apps(1).await, [Some("billing".to_owned())]);
    deploy(None).await;
    assert_eq!(apps(2).await, [Some("billing".to_owned())]);
    let listed = store.components().await.unwrap();
    assert_eq!(listed[0].app.as_deref(), Some("billing"));
}

/// A turn's commit that claims the tasks it queues ([`Claim`]) locks at most `max` of them,
/// among those visible at the commit, the first queued first; a claimed task is handed to no
/// one else and its result is delivered with the token it was claimed with; every other task
/// waits for a lock.
pub(super) async fn a_turn_claims_at_most_max_of_its_visible_tasks(store: &dyn Store) {
    claiming_a_turns_tasks(store).await;
}

/// See [`a_turn_claims_at_most_max_of_its_visible_tasks`]; what was claimed (a backend may
/// claim none).
pub(super) async fn claiming_a_turns_tasks(store: &dyn Store) -> Vec<ActivityWorkItem> {
    create(store, "a", T0).await;
    let item = lock_one(store, "w", "a", T0).await;
    let mut commit = empty_commit(&item, T0);
    let later = activity(2, "work", T0 + 5 * LEASE);
    commit.activities = vec![activity(0, "work", T0), activity(1, "work", T0), later];
    let claim = Claim {
        owner: "me",
        max: 1,
        lease_ms: LEASE,
    };
    let claimed = (store.complete_orchestration_claiming(commit, Some(claim)))
        .await
        .unwrap();
    assert!(claimed.len() <= 1, "{claimed:?}");
    let mut tasks: Vec<_> = claimed.iter().map(|t| (t.task_id, t.attempt)).collect();
    if !claimed.is_empty() {
        assert_eq!(tasks, [(0, 1)], "the first queued, a first attempt");
        assert!(
            claimed[0].lock_token.contains("/me/"),
            "{}",
            claimed[0].lock_token
        );
    }
    let others = store
        .lock_activities("w2", 10, LEASE, T0 + 1)
        .await
        .unwrap();
    tasks.extend(others.iter().map(|t| (t.task_id, t.attempt)));
    tasks.sort();
    assert_eq!(tasks, [(0, 1), (1, 1)], "every visible task locked once");
    for task in claimed.iter().chain(&others) {
        let result = EventKind::TaskCompleted {
            task_id: task.task_id,
            result: "null".into(),
        };
        (store.complete_activity(task, result, Vec::new(), T0 + 2))
            .await
            .unwrap();
    }
    let woken = lock_one(store, "w", "a", T0 + 3).await;
    assert_eq!(labels(&woken.messages), ["TaskCompleted", "TaskCompleted"]);
    claimed
}

/// An activity's result that claims its instance ([`Claim`]) locks it, with every visible
/// message, when no one holds it and it is not suspended; held, or suspended with nothing to
/// resume it, it is left for a lock.
pub(super) async fn a_result_claims_its_instance_unless_held_or_suspended(store: &dyn Store) {
    claiming_a_results_instance(store).await;
}

/// See [`a_result_claims_its_instance_unless_held_or_suspended`]; whether the free instance
/// was claimed (a backend may claim none).
pub(super) async fn claiming_a_results_instance(store: &dyn Store) -> bool {
    let claim = Some(Claim {
        owner: "me",
        max: 1,
        lease_ms: LEASE,
    });
    let done = |task: &ActivityWorkItem| EventKind::TaskCompleted {
        task_id: task.task_id,
        result: "null".into(),
    };
    for id in ["free", "held", "suspended"] {
        with_scheduled_activity(store, id).await;
    }
    let mut tasks = store.lock_activities("w", 10, LEASE, T0).await.unwrap();
    tasks.sort_by(|a, b| a.instance_id.cmp(&b.instance_id));
    let [free, held, suspended] = &tasks[..] else {
        panic!("three tasks: {tasks:?}");
    };

    // Held by another host (a turn for an event in progress): not claimed, and once the
    // holder lets go the result is there to lock.
    store
        .send_message("held", raised("e"), T0, T0)
        .await
        .unwrap();
    let holder = lock_one(store, "other", "held", T0).await;
    let result = done(held);
    let claimed = (store.complete_activity_claiming(held, result, Vec::new(), T0, claim))
        .await
        .unwrap();
    assert!(claimed.is_none(), "a held instance is not claimed");
    let rest = empty_commit(&holder, T0 + 1);
    store.complete_orchestration(rest).await.unwrap();
    let later = lock_one(store, "w", "held", T0 + 2).await;
    assert_eq!(labels(&later.messages), ["TaskCompleted"]);

    // Suspended (by the turn an event woke): not claimed.
    (store.send_message("suspended", raised("e"), T0, T0))
        .await
        .unwrap();
    let item = lock_one(store, "w", "suspended", T0 + 3).await;
    let mut commit = empty_commit(&item, T0 + 3);
    commit.status = RuntimeStatus::Suspended;
    store.complete_orchestration(commit).await.unwrap();
    let result = done(suspended);
    let claimed =
        (store.complete_activity_claiming(suspended, result, Vec::new(), T0 + 4, claim)).await;
    assert!(
        claimed.unwrap().is_none(),
        "a suspended instance is not claimed"
    );

    // Free: claimed with every visible message, and no one else can lock it.
    store
        .send_message("free", raised("e"), T0, T0)
        .await
        .unwrap();
    let result = done(free);
    let claimed = (store.complete_activity_claiming(free, result, Vec::new(), T0 + 5, claim))
        .await
        .unwrap();
    let Some(item) = claimed else {
        return false;
    };
    assert_eq!(item.instance.instance_id, "free");
    assert!(item.lock_token.contains("/me/"), "{}", item.lock_token);
    assert_eq!(labels(&item.messages), ["EventRaised", "TaskCompleted"]);
    assert_eq!(lockable(store, T0 + 6).await, Vec::<String>::new());
    let commit = empty_commit(&item, T0 + 6);
    store.complete_orchestration(commit).await.unwrap();
    true
}

/// Results that reach one instance at once and all claim it: at most one does, the others
/// are delivered, and the claimed turn, or the next lock, sees every result.
pub(super) async fn of_results_claiming_one_instance_at_most_one_does(store: &dyn Store) {
    create(store, "fan", T0).await;
    let item = lock_one(store, "w", "fan", T0).await;
    let mut commit = empty_commit(&item, T0);
    commit.activities = (0..4).map(|i| activity(i, "work", T0)).collect();
    store.complete_orchestration(commit).await.unwrap();
    let tasks = store.lock_activities("w", 10, LEASE, T0).await.unwrap();
    assert_eq!(tasks.len(), 4);
    let claim = Some(Claim {
        owner: "me",
        max: 1,
        lease_ms: LEASE,
    });
    let results = tasks.iter().map(|task| {
        let result = EventKind::TaskCompleted {
            task_id: task.task_id,
            result: "null".into(),
        };
        store.complete_activity_claiming(task, result, Vec::new(), T0 + 1, claim)
    });
    let claimed: Vec<OrchestrationWorkItem> = futures_util::future::join_all(results)
        .await
        .into_iter()
        .filter_map(|r| r.expect("delivered"))
        .collect();
    assert!(claimed.len() <= 1, "{claimed:?}");
    let seen = match claimed.into_iter().next() {
        Some(turn) => {
            let seen = turn.messages.len();
            let mut commit = empty_commit(&turn, T0 + 2);
            commit.consumed = turn.messages.iter().map(|m| m.id).collect();
            store.complete_orchestration(commit).await.unwrap();
            seen
        }
        None => 0,
    };
    let rest = match lockable(store, T0 + 3).await.is_empty() {
        true => 0,
        false => lock_one(store, "w", "fan", T0 + 3).await.messages.len(),
    };
    assert_eq!(seen + rest, 4, "every result is delivered once");
}

pub(super) async fn a_completed_activity_is_delivered_once(store: &dyn Store) {
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
pub(super) async fn an_activity_runs_on_the_component_its_commit_names(store: &dyn Store) {
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

/// A renewed lease is not taken over when the first would have expired; renewing a lease
/// that was taken over fails and leaves the new holder's lease alone.
pub(super) async fn a_renewed_activity_lease_holds_and_a_lost_one_cannot_be_renewed(
    store: &dyn Store,
) {
    with_scheduled_activity(store, "a").await;
    let first = store.lock_activities("w1", 10, LEASE, T0).await.unwrap();
    store
        .renew_activity_lease(&first[0], LEASE, T0 + LEASE - 1)
        .await
        .unwrap();
    let at_first_expiry = store
        .lock_activities("w2", 10, LEASE, T0 + LEASE)
        .await
        .unwrap();
    assert!(at_first_expiry.is_empty(), "renewed: still held");
    let second = store
        .lock_activities("w2", 10, LEASE, T0 + 2 * LEASE - 1)
        .await
        .unwrap();
    assert_eq!(second.len(), 1, "taken over once the renewed lease expired");
    let err = store
        .renew_activity_lease(&first[0], LEASE, T0 + 2 * LEASE)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::LeaseLost), "{err}");
    assert!(
        store
            .lock_activities("w3", 10, LEASE, T0 + 2 * LEASE)
            .await
            .unwrap()
            .is_empty(),
        "the failed renewal did not touch the new holder's lease"
    );
}

pub(super) async fn an_expired_activity_lease_is_taken_over(store: &dyn Store) {
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

/// An activity result that reaches a finished instance (it was terminated while the activity
/// ran) is dropped with `drop_messages`: the message goes, the lock is released, and the
/// instance's status, output and times stay as they were. A lost lease drops nothing.
pub(super) async fn a_late_result_is_dropped_and_the_instance_stays_as_it_ended(store: &dyn Store) {
    with_scheduled_activity(store, "late").await;
    let tasks = store.lock_activities("w", 10, LEASE, T0).await.unwrap();
    // The instance ends while its activity runs.
    store
        .send_message("late", raised("stop"), T0 + 1, T0 + 1)
        .await
        .unwrap();
    let item = lock_one(store, "w", "late", T0 + 1).await;
    let mut ending = empty_commit(&item, T0 + 1);
    ending.status = RuntimeStatus::Terminated;
    ending.output = Some(r#""stop""#.into());
    store.complete_orchestration(ending).await.unwrap();
    let ended = store.instance("late").await.unwrap().unwrap();
    let result = EventKind::TaskCompleted {
        task_id: 0,
        result: "1".into(),
    };
    store
        .complete_activity(&tasks[0], result, Vec::new(), T0 + 5)
        .await
        .unwrap();

    let item = lock_one(store, "w", "late", T0 + 9).await;
    assert_eq!(labels(&item.messages), ["TaskCompleted"]);
    let consumed: Vec<i64> = item.messages.iter().map(|m| m.id).collect();
    let lost = store
        .drop_messages("late", "not-the-token", &consumed)
        .await;
    assert!(matches!(lost, Err(StoreError::LeaseLost)), "{lost:?}");
    store
        .drop_messages("late", &item.lock_token, &consumed)
        .await
        .unwrap();
    assert_eq!(store.instance("late").await.unwrap().unwrap(), ended);
    assert!(
        lockable(store, T0 + 10).await.is_empty(),
        "the message is gone, the lock free"
    );
}

/// An idle host's poll ([`Store::work_visible`]) may say yes where a lock finds nothing, never
/// no where a lock would find something: ready work of each kind is seen; once all of it is
/// locked, a backend that looks (rather than saying yes to all) sees none.
pub(super) async fn an_idle_poll_sees_every_kind_of_ready_work(store: &dyn Store) {
    let kinds = |v: WorkVisible| (v.orchestrations, v.activities, v.entities);
    with_scheduled_activity(store, "a").await;
    create(store, "o", T0).await;
    store
        .send_entity_message(super::entities::message("e", "add", None, T0))
        .await
        .unwrap();
    assert_eq!(
        kinds(store.work_visible(T0).await.unwrap()),
        (true, true, true)
    );
    let turns = store.lock_orchestrations("w", 10, LEASE, T0).await.unwrap();
    let tasks = store.lock_activities("w", 10, LEASE, T0).await.unwrap();
    let batches = store.lock_entities("w", 10, 10, LEASE, T0).await.unwrap();
    assert_eq!((turns.len(), tasks.len(), batches.len()), (1, 1, 1));
    let left = kinds(store.work_visible(T0 + 1).await.unwrap());
    assert!(
        left == (true, true, true) || left == (false, false, false),
        "{left:?}: every kind of work is locked"
    );
    // A lease that runs out makes its work ready again.
    assert_eq!(
        kinds(store.work_visible(T0 + LEASE).await.unwrap()),
        (true, true, true)
    );
}
