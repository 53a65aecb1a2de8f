//! Export and import: a store copied into a new store of the same backend looks the same
//! through every read and every lock, without the leases; an import writes all or nothing.

use super::entities::message;
use super::*;
use crate::store::transfer::{Counts, ImportItem, Kind, Record};
use crate::types::EntityId;
use tokio::sync::mpsc;

/// Well after every time the tests write, their leases and their timer.
const LATE: Timestamp = T0 + 3_600_000;
const TIMER: u32 = 2;

/// Every record `store` exports, and the counts it reports.
async fn export_all(store: &dyn Store) -> (Vec<Record>, Counts) {
    let (sink, mut records) = mpsc::channel(4);
    let collect = async {
        let mut all = Vec::new();
        while let Some(record) = records.recv().await {
            all.push(record);
        }
        all
    };
    let (counts, all) = tokio::join!(store.export(sink), collect);
    (all, counts.expect("export"))
}

/// Imports `items` into `store`.
async fn import_all(store: &dyn Store, items: Vec<ImportItem>) -> StoreResult<Counts> {
    let (sink, source) = mpsc::channel(4);
    let send = async move {
        for item in items {
            if sink.send(item).await.is_err() {
                break;
            }
        }
    };
    let (imported, ()) = tokio::join!(store.import(source), send);
    imported
}

/// What the import of a whole export sends.
fn whole(records: &[Record], counts: Counts) -> Vec<ImportItem> {
    let mut items: Vec<_> = records.iter().cloned().map(ImportItem::Record).collect();
    items.push(ImportItem::End(counts));
    items
}

fn entity(key: &str) -> EntityId {
    EntityId {
        name: "counter".into(),
        key: key.into(),
    }
}

/// Fills `store` with a row of every kind: two components (the first deployed again, so
/// newest), a finished instance with history and logs, a running one with history, a pending
/// timer, an event, an activity task (locked) and a log line, and two entities (both locked):
/// one with state, a queued and a scheduled operation, one held in a critical section.
async fn fill(store: &dyn Store) {
    let catalogue = |name: &str| Catalogue {
        orchestrators: vec![format!("{name}_orch")],
        activities: vec!["work".into()],
        entities: vec!["counter".into()],
    };
    let every_byte: Vec<u8> = (0..=255).collect();
    store
        .put_component(
            "sha256:a",
            b"\0asm a",
            &catalogue("a"),
            T0,
            Labels::default(),
        )
        .await
        .unwrap();
    store
        .put_component(
            "sha256:b",
            &every_byte,
            &catalogue("b"),
            T0 + 1,
            Labels::default(),
        )
        .await
        .unwrap();
    store
        .put_component(
            "sha256:a",
            b"\0asm a",
            &catalogue("a"),
            T0 + 2,
            Labels::default(),
        )
        .await
        .unwrap();

    create(store, "done", T0).await;
    let item = lock_one(store, "w", "done", T0).await;
    let mut commit = empty_commit(&item, T0 + 1);
    commit.new_history = vec![
        event(0, T0 + 1, EventKind::OrchestratorStarted),
        event(1, T0 + 1, item.messages[0].event.clone()),
    ];
    commit.status = RuntimeStatus::Completed;
    commit.output = Some(r#""finished""#.into());
    commit.logs = vec![LogLine {
        timestamp: T0 + 1,
        level: "info".into(),
        message: "done \u{2713}".into(),
    }];
    store.complete_orchestration(commit).await.unwrap();

    create(store, "running", T0 + 10).await;
    let item = lock_one(store, "w", "running", T0 + 10).await;
    let mut commit = empty_commit(&item, T0 + 10);
    commit.new_history = vec![
        event(0, T0 + 10, EventKind::OrchestratorStarted),
        event(1, T0 + 10, item.messages[0].event.clone()),
        event(
            2,
            T0 + 10,
            EventKind::TimerCreated {
                fire_at: T0 + 60_000,
            },
        ),
    ];
    commit.custom_status = Some(Some(r#"{"step":1}"#.into()));
    commit.activities = vec![activity(1, "work", T0 + 10)];
    commit.messages = vec![timer(&item, TIMER, T0 + 60_000)];
    commit.logs = ["asked", "waiting"]
        .map(|text| LogLine {
            timestamp: T0 + 10,
            level: "warn".into(),
            message: text.into(),
        })
        .to_vec();
    store.complete_orchestration(commit).await.unwrap();
    store
        .send_message("running", raised("Approval"), T0 + 20, T0 + 20)
        .await
        .unwrap();
    let locked = store
        .lock_activities("w", 10, LEASE, T0 + 20)
        .await
        .unwrap();
    assert_eq!(locked.len(), 1);

    store
        .send_entity_message(message("a", "set", None, T0))
        .await
        .unwrap();
    store
        .send_entity_message(message("b", "$lock", Some("running"), T0))
        .await
        .unwrap();
    for item in store.lock_entities("w", 10, 100, LEASE, T0).await.unwrap() {
        let held = item.entity.key == "b";
        let commit = EntityCommit {
            entity: item.entity.clone(),
            lock_token: item.lock_token.clone(),
            state: (!held).then(|| "5".into()),
            locked_by: held.then(|| "running".into()),
            consumed: item.messages.iter().map(|m| m.id).collect(),
            responses: Vec::new(),
            signals: Vec::new(),
            new_instances: Vec::new(),
            now: T0 + 1,
        };
        store.complete_entity(commit).await.unwrap();
    }
    for queued in [
        message("a", "add", None, T0 + 2),
        message("a", "double", None, T0 + 2),
        message("a", "later", None, T0 + 50_000),
        message("b", "add", Some("other"), T0 + 2),
        message("b", "add", Some("running"), T0 + 2),
    ] {
        store.send_entity_message(queued).await.unwrap();
    }
    // Both entities are locked when the store is exported.
    let locked = store
        .lock_entities("w", 10, 100, LEASE, T0 + 25)
        .await
        .unwrap();
    assert_eq!(locked.len(), 2);
}

/// Everything a reader and a dispatcher see in `store`, as text to compare; locks and
/// commits as a dispatcher would (message and task ids left out: each store numbers its own).
async fn observe(store: &dyn Store) -> Vec<String> {
    let mut seen = Vec::new();
    for component in store.components().await.unwrap() {
        let bytes = store.component_bytes(&component.digest).await.unwrap();
        seen.push(format!("{component:?} {bytes:?}"));
    }
    for instance in store
        .list_instances(&InstanceFilter::default())
        .await
        .unwrap()
    {
        let id = &instance.instance_id;
        seen.push(format!("{instance:?}"));
        seen.push(format!("{:?}", store.history(id).await.unwrap()));
        seen.push(format!("{:?}", store.logs(id).await.unwrap()));
        seen.push(format!("{:?}", store.instance(id).await.unwrap()));
    }
    let all = EntityFilter {
        include_empty: true,
        ..EntityFilter::default()
    };
    for record in store.list_entities(&all).await.unwrap() {
        let id = entity(&record.key);
        seen.push(format!("{record:?} {:?}", store.entity(&id).await.unwrap()));
    }

    // A turn takes the event and cancels the timer by its id.
    let item = lock_one(store, "obs", "running", T0 + 40).await;
    let messages: Vec<_> = item
        .messages
        .iter()
        .map(|m| (&m.execution_id, &m.event))
        .collect();
    seen.push(format!(
        "{:?} {} {messages:?}",
        item.instance, item.history_len
    ));
    let mut commit = empty_commit(&item, T0 + 40);
    commit.new_history = vec![event(3, T0 + 40, raised("Approval"))];
    commit.cancelled_timers = vec![TIMER];
    store.complete_orchestration(commit).await.unwrap();
    seen.push(format!("lockable late: {:?}", lockable(store, LATE).await));
    seen.push(format!("{:?}", store.history("running").await.unwrap()));

    for task in store.lock_activities("obs", 10, LEASE, LATE).await.unwrap() {
        seen.push(format!(
            "task {} {} {} {} {} {} attempt {}",
            task.instance_id,
            task.execution_id,
            task.task_id,
            task.name,
            task.input,
            task.digest,
            task.attempt
        ));
    }
    let mut entities = store
        .lock_entities("obs", 10, 100, LEASE, LATE)
        .await
        .unwrap();
    entities.sort_by(|a, b| a.entity.key.cmp(&b.entity.key));
    for item in entities {
        let messages: Vec<_> = item
            .messages
            .iter()
            .map(|m| (&m.operation, &m.input, &m.caller))
            .collect();
        seen.push(format!(
            "{:?} {:?} {:?} {messages:?}",
            item.entity, item.state, item.locked_by
        ));
    }
    seen
}

pub(super) async fn a_copy_looks_the_same_through_every_read_and_lock(
    source: &dyn Store,
    target: &dyn Store,
) {
    fill(source).await;
    let (records, counts) = export_all(source).await;
    assert_eq!(counts.total(), records.len() as u64);
    for kind in Kind::ALL {
        assert!(counts.get(kind) > 0, "the test covers every kind: {counts}");
    }
    // The file form of every record reads back as the same record.
    for record in &records {
        let line = serde_json::from_str(&record.to_json_line()).unwrap();
        assert_eq!(&Record::from_json(line).unwrap(), record);
    }
    let imported = import_all(target, whole(&records, counts)).await.unwrap();
    assert_eq!(imported, counts);

    // Leases are not copied: what is locked in the source is free in the copy.
    assert!(
        source
            .lock_entities("x", 10, 100, LEASE, T0 + 31)
            .await
            .unwrap()
            .is_empty(),
        "the entities are held in the source"
    );
    let free = target
        .lock_entities("x", 10, 100, LEASE, T0 + 31)
        .await
        .unwrap();
    let mut keys: Vec<_> = free.iter().map(|item| item.entity.key.as_str()).collect();
    keys.sort();
    assert_eq!(keys, ["a", "b"], "and free in the copy");
    for item in &free {
        target
            .abandon_entity(&item.entity, &item.lock_token, T0 + 31)
            .await
            .unwrap();
    }

    let (expected, copied) = (observe(source).await, observe(target).await);
    assert_eq!(copied, expected);

    // A copy of the copy is the same again: nothing was lost or added on the way.
    let (again, again_counts) = export_all(target).await;
    let (after, _) = export_all(source).await;
    assert_eq!(again, after);
    assert_eq!(again_counts.total(), after.len() as u64);

    // Deployments after the import come after the imported ones.
    target
        .put_component(
            "sha256:c",
            b"c",
            &Catalogue::default(),
            LATE,
            Labels::default(),
        )
        .await
        .unwrap();
    let order: Vec<_> = target
        .components()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.digest)
        .collect();
    assert_eq!(order, ["sha256:c", "sha256:a", "sha256:b"]);
}

pub(super) async fn an_import_writes_all_or_nothing(source: &dyn Store, target: &dyn Store) {
    fill(source).await;
    let (records, counts) = export_all(source).await;
    let is_empty = async || {
        let (left, left_counts) = export_all(target).await;
        assert!(left.is_empty(), "nothing was written: {left_counts}");
    };

    // The records end before their end mark (a truncated file).
    let mut cut = whole(&records, counts);
    cut.truncate(records.len() / 2);
    let err = import_all(target, cut).await.unwrap_err();
    assert!(matches!(err, StoreError::ImportRefused(_)), "{err}");
    assert!(err.to_string().contains("ended before"), "{err}");
    is_empty().await;

    // A record went missing on the way.
    let mut short = whole(&records, counts);
    short.remove(records.len() - 1);
    let err = import_all(target, short).await.unwrap_err();
    assert!(err.to_string().contains("do not add up"), "{err}");
    is_empty().await;

    // A failed import left nothing behind: the whole copy goes in, once.
    import_all(target, whole(&records, counts)).await.unwrap();
    let err = import_all(target, whole(&records, counts))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::ImportRefused(_)), "{err}");
    assert!(err.to_string().contains("not empty"), "{err}");
    let (copied, _) = export_all(target).await;
    assert_eq!(copied, records);
}
