//! Property tests of what a hostile guest can decide: random action sequences (duplicate,
//! skipped, huge or unknown sequence ids, huge or reserved names, timers at any time,
//! unsorted and repeated entity locks, endings mid-turn) go through the engine's planning path
//! ([`decide_turn`], then [`plan_commit`] or [`ending_commit`]) and into a real SQLite store,
//! turn after turn. The host never panics, every commit is accepted, and the replay state kept
//! between turns always equals the state folded from the stored history, which is what a cold
//! replay starts from.

use super::inbox::sort_inbox;
use super::turn::{Ending, Locked, decide_turn, ending_commit, plan_commit};
use crate::replay::{ReplayState, Scheduled};
use crate::resolve::Callees;
use crate::store::{Catalogue, NewInstance, SqliteStore, Store};
use crate::types::{Action, ActionKind, EntityId, EntityOperation, EventKind, Failure};
use proptest::prelude::*;

const T0: u64 = 1_767_225_600_000;
const MAX_PAYLOAD: usize = 4096;

/// A name: mostly one the component offers, sometimes anything (huge, empty, reserved).
fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        12 => Just("work".to_owned()),
        2 => Just("orch".to_owned()),
        2 => Just("counter".to_owned()),
        1 => Just("unknown".to_owned()),
        1 => Just(String::new()),
        1 => Just("$lock".to_owned()),
        1 => Just("durable:http".to_owned()),
        1 => any::<String>(),
        1 => (1usize..20_000).prop_map(|n| "n".repeat(n)),
    ]
}

/// A payload: mostly small JSON, sometimes not JSON or over the payload limit.
fn json() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => Just("null".to_owned()),
        4 => Just("{\"a\":[1,2]}".to_owned()),
        1 => Just("not json".to_owned()),
        1 => (1usize..10_000).prop_map(|n| format!("\"{}\"", "x".repeat(n))),
    ]
}

fn entity() -> impl Strategy<Value = EntityId> {
    (
        prop_oneof![Just("counter".to_owned()), name()],
        prop_oneof![Just("k".to_owned()), any::<String>()],
    )
        .prop_map(|(name, key)| EntityId { name, key })
}

fn timestamp() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0),
        Just(T0),
        (0u64..1_000_000).prop_map(|d| T0 + d),
        Just(i64::MAX as u64),
        Just(u64::MAX),
    ]
}

fn kind() -> impl Strategy<Value = ActionKind> {
    let operation = || {
        (entity(), name(), json(), proptest::option::of(timestamp())).prop_map(
            |(entity, operation, input, scheduled_at)| EntityOperation {
                entity,
                operation,
                input,
                scheduled_at,
            },
        )
    };
    prop_oneof![
        12 => (name(), json()).prop_map(|(name, input)| ActionKind::ScheduleActivity { name, input }),
        4 => timestamp().prop_map(|fire_at| ActionKind::StartTimer { fire_at }),
        1 => any::<u32>().prop_map(|timer_id| ActionKind::CancelTimer { timer_id: timer_id % 8 }),
        1 => (name(), prop_oneof![Just(String::new()), Just("i".to_owned()), any::<String>()], json())
            .prop_map(|(name, instance_id, input)| ActionKind::StartSubOrchestration { name, instance_id, input }),
        1 => (prop_oneof![Just("i".to_owned()), any::<String>()], name(), json())
            .prop_map(|(instance_id, name, input)| ActionKind::SendEvent { instance_id, name, input }),
        1 => operation().prop_map(ActionKind::CallEntity),
        1 => operation().prop_map(ActionKind::SignalEntity),
        1 => proptest::collection::vec(entity(), 0..4).prop_map(|entities| ActionKind::LockEntities { entities }),
        1 => proptest::collection::vec(entity(), 0..3).prop_map(|entities| ActionKind::UnlockEntities { entities }),
        1 => proptest::option::of(json()).prop_map(|status| ActionKind::SetCustomStatus { status }),
        1 => json().prop_map(|result| ActionKind::Complete { result }),
        1 => name().prop_map(|t| ActionKind::Fail { failure: Failure::new(t, "failed") }),
        1 => (json(), any::<bool>()).prop_map(|(input, preserve)| ActionKind::ContinueAsNew {
            input,
            preserve_unprocessed_events: preserve,
            carried_events: Vec::new(),
        }),
    ]
}

/// An action with its sequence id: usually the next one (`None`), else any offset from it or
/// any id at all.
fn action() -> impl Strategy<Value = (Option<i64>, ActionKind)> {
    let id = prop_oneof![
        30 => Just(None),
        2 => (-3i64..3).prop_map(Some),
        1 => any::<u32>().prop_map(|id| Some(i64::from(id))),
    ];
    (id, kind())
}

/// Runs `turns` turns of decided actions against a real store, checking after each.
async fn run(turns: Vec<Vec<(Option<i64>, ActionKind)>>) -> Result<(), TestCaseError> {
    let store = SqliteStore::open_in_memory().expect("in-memory SQLite");
    let catalogue = Catalogue {
        orchestrators: vec!["orch".into()],
        activities: vec!["work".into()],
        entities: vec!["counter".into()],
    };
    store
        .put_component(
            "sha256:d",
            b"not run",
            &catalogue,
            T0,
            crate::store::Labels::default(),
        )
        .await
        .unwrap();
    let deployed = store.components().await.unwrap();
    let instance = NewInstance {
        instance_id: "i".into(),
        name: "orch".into(),
        execution_id: "e1".into(),
        digest: "sha256:d".into(),
        input: "null".into(),
        parent: None,
        created_at: T0,
        version: None,
        trace: None,
    };
    store.create_instance(instance).await.unwrap();
    let mut replay = ReplayState::new();
    let mut ids = 0..;
    let mut now = T0;
    for (turn, decided) in turns.into_iter().enumerate() {
        now += 1_000;
        // Only `i` runs here: the instances it started stay as they were created.
        let mut item = None;
        for locked in store
            .lock_orchestrations("h", 100, 60_000, now)
            .await
            .unwrap()
        {
            if locked.instance.instance_id == "i" {
                item = Some(locked);
            } else {
                let id = &locked.instance.instance_id;
                store
                    .abandon_orchestration(id, &locked.lock_token, u64::MAX / 4)
                    .await
                    .unwrap();
            }
        }
        let Some(item) = item else {
            break; // finished, nothing waits
        };
        let record = &item.instance;
        if record.status.is_terminal() {
            break;
        }
        if record.execution_id != "e1" && replay.history_len() > 0 && replay.is_finished() {
            replay = ReplayState::new(); // continued as new
        }
        let locked = Locked {
            instance: record,
            lock_token: &item.lock_token,
        };
        let inbox = sort_inbox(record, &item.messages);
        let events = replay.begin_turn(now, inbox.deliver);
        // Sequence ids as a well-behaved guest numbers them, unless the case says otherwise.
        let mut next = i64::from(replay.scheduled_len());
        let actions: Vec<Action> = decided
            .into_iter()
            .map(|(id, kind)| {
                let id = match id {
                    None => next,
                    Some(offset) if offset.abs() < 3 => next + offset,
                    Some(id) => id,
                };
                if Scheduled::of_action(&kind).is_some() {
                    next = id + 1;
                }
                Action {
                    id: u32::try_from(id.max(0)).unwrap_or(u32::MAX),
                    kind,
                }
            })
            .collect();
        let callees = Callees {
            caller_digest: &record.digest,
            caller: Some(&catalogue),
            deployed: &deployed,
        };
        let mut new_id = || format!("x{}", ids.next().unwrap());
        let decided = decide_turn(&mut replay, "i", events.clone(), actions, MAX_PAYLOAD, now);
        let commit = match decided {
            Ok(plan) => plan_commit(locked, plan, inbox.consumed, &callees, &mut new_id, now),
            Err(failure) => {
                let ending = Ending::Failed(*failure);
                let commit = ending_commit(locked, &replay, events, inbox.consumed, ending, now);
                replay = ReplayState::from_history(&[]); // the execution is over
                commit
            }
        };
        let ended = commit.status.is_terminal();
        let continued = commit.new_execution.is_some();
        store
            .complete_orchestration(commit)
            .await
            .map_err(|e| TestCaseError::fail(format!("turn {turn}: commit refused: {e}")))?;
        if ended || continued {
            if continued {
                replay = ReplayState::new();
                // The new execution's first turn needs nothing more to be lockable.
                continue;
            }
            break;
        }
        // What a cold replay would start from agrees with the state kept between turns.
        let stored = store.history("i").await.unwrap();
        let cold = ReplayState::from_history(&stored);
        prop_assert_eq!(cold.history_len(), replay.history_len(), "turn {}", turn);
        prop_assert_eq!(
            cold.scheduled_len(),
            replay.scheduled_len(),
            "turn {}",
            turn
        );
        prop_assert_eq!(
            cold.open_timers().collect::<Vec<_>>(),
            replay.open_timers().collect::<Vec<_>>(),
            "turn {}",
            turn
        );
        prop_assert_eq!(cold.held_locks(), replay.held_locks(), "turn {}", turn);
        prop_assert_eq!(cold.is_finished(), replay.is_finished(), "turn {}", turn);
        // Something to lock the next turn with.
        let poke = EventKind::EventRaised {
            name: "poke".into(),
            input: "null".into(),
        };
        store.send_message("i", poke, now, now).await.unwrap();
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: None, // a failure prints its minimal case; nothing is written
        ..ProptestConfig::default()
    })]

    #[test]
    fn hostile_action_sequences_are_planned_committed_and_agree_with_cold_state(
        turns in proptest::collection::vec(proptest::collection::vec(action(), 0..6), 1..6)
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(run(turns))?;
    }
}
