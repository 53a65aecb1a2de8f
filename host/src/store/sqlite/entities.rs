//! Entities in SQLite: one row per entity (state, last operation time, lease) and an inbox of
//! operations. The `Store` methods in `sqlite.rs` call these functions inside their
//! transaction; an orchestration turn enqueues its entity calls and signals through
//! [`insert_entity_message`] in the same transaction as its history.

use super::*;

pub(super) fn insert_entity_message(conn: &Connection, message: &EntityMessage) -> StoreResult<()> {
    let EntityId { name, key } = &message.entity;
    conn.prepare_cached("INSERT OR IGNORE INTO entities (name, key) VALUES (?1, ?2)")?
        .execute(params![name, key])?;
    let caller = message
        .caller
        .as_ref()
        .map(serde_json::to_string)
        .transpose()?;
    conn.prepare_cached(
        "INSERT INTO entity_inbox (name, key, operation, input, caller, caller_id, visible_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        name,
        key,
        message.operation,
        message.input,
        caller,
        message.sender,
        message.visible_at as i64
    ])?;
    Ok(())
}

pub(super) fn lock_entities(
    conn: &Connection,
    tokens: Vec<String>,
    batch: usize,
    lease_ms: u64,
    now: Timestamp,
) -> StoreResult<Vec<EntityWorkItem>> {
    let now_i = now as i64;
    let ids: Vec<(String, String)> = {
        let mut stmt = conn.prepare_cached(
            "SELECT DISTINCT m.name, m.key FROM entity_inbox m \
             JOIN entities e ON e.name = m.name AND e.key = m.key \
             WHERE m.visible_at <= ?1 AND e.lock_expires <= ?1 \
             AND (e.locked_by IS NULL OR m.caller_id = e.locked_by) LIMIT ?2",
        )?;
        stmt.query_map(params![now_i, tokens.len() as i64], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?
        .collect::<Result<_, _>>()?
    };
    let mut items = Vec::with_capacity(ids.len());
    for ((name, key), token) in ids.into_iter().zip(tokens) {
        let (state, locked_by): (Option<String>, Option<String>) = conn
            .prepare_cached(
                "UPDATE entities SET lock_token = ?3, lock_expires = ?4 \
                 WHERE name = ?1 AND key = ?2 RETURNING state, locked_by",
            )?
            .query_row(params![name, key, token, (now + lease_ms) as i64], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?;
        let mut stmt = conn.prepare_cached(
            "SELECT id, operation, input, caller FROM entity_inbox \
             WHERE name = ?1 AND key = ?2 AND visible_at <= ?3 \
             AND (?5 IS NULL OR caller_id = ?5) \
             ORDER BY visible_at, id LIMIT ?4",
        )?;
        let messages = stmt
            .query_map(params![name, key, now_i, batch as i64, locked_by], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?,
                ))
            })?
            .map(|row| {
                let (id, operation, input, caller) = row?;
                Ok(EntityInboxMessage {
                    id,
                    operation,
                    input,
                    caller: caller.map(|c| serde_json::from_str(&c)).transpose()?,
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        items.push(EntityWorkItem {
            entity: EntityId { name, key },
            state,
            locked_by,
            lock_token: token,
            messages,
        });
    }
    Ok(items)
}

pub(super) fn write_batch(conn: &Connection, commit: EntityCommit) -> StoreResult<()> {
    let EntityId { name, key } = &commit.entity;
    let updated = conn
        .prepare_cached(
            "UPDATE entities SET state = ?4, last_operation_at = ?5, locked_by = ?6, \
             lock_token = NULL, lock_expires = 0 WHERE name = ?1 AND key = ?2 AND lock_token = ?3",
        )?
        .execute(params![
            name,
            key,
            commit.lock_token,
            commit.state,
            commit.now as i64,
            commit.locked_by
        ])?;
    if updated == 0 {
        return Err(StoreError::LeaseLost);
    }
    {
        let mut delete = conn.prepare_cached("DELETE FROM entity_inbox WHERE id = ?1")?;
        for id in &commit.consumed {
            delete.execute([id])?;
        }
    }
    for response in &commit.responses {
        if !answer_reaches(
            response,
            load_instance(conn, &response.instance_id)?.as_ref(),
        ) {
            continue;
        }
        insert_message(
            conn,
            &response.instance_id,
            response.execution_id.as_deref(),
            None,
            &response.event,
            response.visible_at,
        )?;
    }
    for signal in &commit.signals {
        insert_entity_message(conn, signal)?;
    }
    for instance in commit.new_instances {
        match load_instance(conn, &instance.instance_id)? {
            Some(existing) if !existing.status.is_terminal() => {}
            _ => insert_instance(conn, instance)?,
        }
    }
    Ok(())
}

pub(super) fn abandon(
    conn: &Connection,
    entity: &EntityId,
    lock_token: &str,
    retry_at: Timestamp,
) -> StoreResult<()> {
    conn.execute(
        "UPDATE entities SET lock_token = NULL, lock_expires = ?4 \
         WHERE name = ?1 AND key = ?2 AND lock_token = ?3",
        params![entity.name, entity.key, lock_token, retry_at as i64],
    )?;
    Ok(())
}

pub(super) fn load_entity(
    conn: &Connection,
    entity: &EntityId,
) -> StoreResult<Option<EntityRecord>> {
    let sql = format!("SELECT {ENTITY_COLUMNS} FROM entities e WHERE e.name = ?1 AND e.key = ?2");
    Ok(conn
        .query_row(&sql, params![entity.name, entity.key], |r| entity_record(r))
        .optional()?)
}

pub(super) fn list(conn: &Connection, filter: &EntityFilter) -> StoreResult<Vec<EntityRecord>> {
    let (sql, args) = entity_list_sql(filter, &sqlite_mark);
    let mut stmt = conn.prepare(&sql)?;
    let args = args.into_iter().map(sqlite_value);
    let rows = stmt.query_map(rusqlite::params_from_iter(args), |r| entity_record(r))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(super) fn delete_empty(conn: &Connection, now: Timestamp) -> StoreResult<usize> {
    Ok(conn.execute(
        "DELETE FROM entities WHERE state IS NULL AND locked_by IS NULL AND lock_expires <= ?1 \
         AND NOT EXISTS (SELECT 1 FROM entity_inbox m \
                         WHERE m.name = entities.name AND m.key = entities.key)",
        [now as i64],
    )?)
}
