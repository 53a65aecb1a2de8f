//! Entity calls and critical sections: the actions decided, the locking rules.

use super::*;
use crate::EntityId;
use crate::bindings::wit_orch::{EntityLock, EntityLockGranted};

#[crate::orchestrator]
async fn section(ctx: OrchestrationContext) -> Result<Value, Failure> {
    let (a, b, c) = (
        EntityId::new("account", "a"),
        EntityId::new("account", "b"),
        EntityId::new("account", "c"),
    );
    ctx.lock_entities(&[b.clone(), a.clone(), b.clone()])
        .await?;
    let outside = ctx.call_entity::<i64>(&c, "balance", ()).await.unwrap_err();
    let again = ctx.lock_entities(&[c]).await.unwrap_err();
    let child = ctx.call_sub_orchestrator::<Value>("child", None, ());
    let child = child.await.unwrap_err();
    let reserved = ctx
        .call_entity::<Value>(&a, "$unlock", ())
        .await
        .unwrap_err();
    // Left locked on purpose: ending releases the section.
    Ok(json!([
        outside.error_type,
        again.error_type,
        child.error_type,
        reserved.error_type,
        ctx.is_locked()
    ]))
}

fn ids(keys: &[&str]) -> Vec<wit_types::EntityId> {
    keys.iter()
        .map(|k| wit_types::EntityId {
            name: "account".into(),
            key: (*k).into(),
        })
        .collect()
}

#[test]
fn locks_are_sorted_calls_outside_fail_and_ending_releases() {
    let turns = vec![
        first_turn(Value::Null),
        vec![
            turn_start(1),
            event(EventKind::EntityLockGranted(EntityLockGranted {
                task_id: 0,
            })),
        ],
    ];
    let actions = run_both(section::__DURABLE_ORCHESTRATOR, &turns);
    assert_eq!(
        actions[0],
        vec![Action {
            id: 0,
            kind: ActionKind::LockEntities(EntityLock {
                entities: ids(&["a", "b"]),
            }),
        }]
    );
    let last = &actions[1];
    assert_eq!(
        last[0].kind,
        ActionKind::UnlockEntities(EntityLock {
            entities: ids(&["a", "b"]),
        })
    );
    assert_eq!(
        output_of(&last[1]),
        json!([
            "LockingRulesViolation",
            "LockingRulesViolation",
            "LockingRulesViolation",
            "InvalidInput",
            true
        ])
    );
}
