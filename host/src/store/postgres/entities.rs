//! Entities in PostgreSQL: one row per entity (state, last operation time, lease) and an
//! inbox of operations. An orchestration turn enqueues its entity calls and signals through
//! [`insert_entity_message`] in the same transaction as its history.

use super::*;

pub(super) async fn insert_entity_message(
    tx: &Transaction<'_>,
    message: &EntityMessage,
) -> StoreResult<()> {
    let EntityId { name, key } = &message.entity;
    tx.execute_prepared(
        "INSERT INTO entities (name, key) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        &[name, key],
    )
    .await?;
    let caller = message
        .caller
        .as_ref()
        .map(serde_json::to_string)
        .transpose()?;
    tx.execute_prepared(
        "INSERT INTO entity_inbox (name, key, operation, input, caller, caller_id, visible_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[
            name,
            key,
            &message.operation,
            &message.input,
            &caller,
            &message.sender,
            &(message.visible_at as i64),
        ],
    )
    .await?;
    Ok(())
}

/// See [`Store::lock_entities`]: one statement locks the batch (rows another transaction is
/// locking are skipped), a second reads their messages. The entities are found from their
/// visible messages, oldest first, each looked up by its key (`OFFSET 0` keeps the lookup a
/// nested loop), so the cost follows the ready work, not every entity there is.
pub(super) async fn lock_entities(
    tx: &Transaction<'_>,
    token: &str,
    max: usize,
    batch: usize,
    lease_ms: u64,
    now: Timestamp,
) -> StoreResult<Vec<EntityWorkItem>> {
    let now = now as i64;
    let locked = tx
        .query_prepared(
            "UPDATE entities e SET lock_token = $1, lock_expires = $2 \
             WHERE (e.name, e.key) IN ( \
                 SELECT c.name, c.key \
                 FROM (SELECT name, key FROM entity_inbox WHERE visible_at <= $3 \
                       GROUP BY name, key ORDER BY min(visible_at)) ready \
                 CROSS JOIN LATERAL ( \
                     SELECT c.name, c.key FROM entities c \
                     WHERE c.name = ready.name AND c.key = ready.key AND c.lock_expires <= $3 \
                     AND EXISTS ( \
                         SELECT 1 FROM entity_inbox m WHERE m.name = c.name AND m.key = c.key \
                         AND m.visible_at <= $3 \
                         AND (c.locked_by IS NULL OR m.caller_id = c.locked_by)) \
                     OFFSET 0 FOR UPDATE SKIP LOCKED) c \
                 LIMIT $4) \
             RETURNING e.name, e.key, e.state, e.locked_by",
            &[&token, &(now + lease_ms as i64), &now, &(max as i64)],
        )
        .await?;
    let mut items = Vec::with_capacity(locked.len());
    let mut index = HashMap::new();
    for row in &locked {
        let entity = EntityId {
            name: row.try_get(0)?,
            key: row.try_get(1)?,
        };
        index.insert(entity.clone(), items.len());
        items.push(EntityWorkItem {
            entity,
            state: row.try_get(2)?,
            locked_by: row.try_get(3)?,
            lock_token: token.to_owned(),
            messages: Vec::new(),
        });
    }
    if items.is_empty() {
        return Ok(items);
    }
    let messages = tx
        .query_prepared(
            "SELECT name, key, id, operation, input, caller FROM ( \
                 SELECT m.*, row_number() OVER ( \
                     PARTITION BY m.name, m.key ORDER BY m.visible_at, m.id) AS n \
                 FROM entity_inbox m JOIN entities e ON e.name = m.name AND e.key = m.key \
                 WHERE e.lock_token = $1 AND m.visible_at <= $2 \
                 AND (e.locked_by IS NULL OR m.caller_id = e.locked_by)) AS visible \
             WHERE n <= $3 ORDER BY name, key, visible_at, id",
            &[&token, &now, &(batch as i64)],
        )
        .await?;
    for row in &messages {
        let entity = EntityId {
            name: row.try_get(0)?,
            key: row.try_get(1)?,
        };
        let Some(&i) = index.get(&entity) else {
            continue;
        };
        let caller: Option<String> = row.try_get(5)?;
        items[i].messages.push(EntityInboxMessage {
            id: row.try_get(2)?,
            operation: row.try_get(3)?,
            input: row.try_get(4)?,
            caller: caller.map(|c| serde_json::from_str(&c)).transpose()?,
        });
    }
    Ok(items)
}

/// See [`Store::complete_entity`].
pub(super) async fn write_batch(tx: &Transaction<'_>, commit: &EntityCommit) -> StoreResult<()> {
    let EntityId { name, key } = &commit.entity;
    let updated = tx
        .execute_prepared(
            "UPDATE entities SET state = $4, last_operation_at = $5, locked_by = $6, \
             lock_token = NULL, lock_expires = 0 WHERE name = $1 AND key = $2 AND lock_token = $3",
            &[
                name,
                key,
                &commit.lock_token,
                &commit.state,
                &(commit.now as i64),
                &commit.locked_by,
            ],
        )
        .await?;
    if updated == 0 {
        return Err(StoreError::LeaseLost);
    }
    tx.execute_prepared(
        "DELETE FROM entity_inbox WHERE id = ANY($1)",
        &[&commit.consumed],
    )
    .await?;
    for response in &commit.responses {
        let caller = load_instance(tx, &response.instance_id, "").await?;
        if !answer_reaches(response, caller.as_ref()) {
            continue;
        }
        insert_message(
            tx,
            &response.instance_id,
            response.execution_id.as_deref(),
            None,
            &response.event,
            response.visible_at,
        )
        .await?;
    }
    for signal in &commit.signals {
        insert_entity_message(tx, signal).await?;
    }
    for instance in &commit.new_instances {
        match insert_instance(tx, instance).await {
            Err(StoreError::InstanceExists(_)) => {}
            other => other?,
        }
    }
    Ok(())
}
