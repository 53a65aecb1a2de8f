//! Writing an orchestration turn and a rewind, each inside the group transaction's savepoint.

use super::*;

/// See [`Store::rewind`].
pub(super) fn write_rewind(conn: &Connection, rewind: RewindCommit) -> StoreResult<()> {
    let id = rewind.instance_id.as_str();
    let instance =
        load_instance(conn, id)?.ok_or_else(|| StoreError::InstanceNotFound(id.to_owned()))?;
    if instance.status != RuntimeStatus::Failed {
        return Err(StoreError::InstanceNotFailed(
            id.to_owned(),
            instance.status,
        ));
    }
    let history_len: i64 = conn
        .prepare_cached("SELECT history_len FROM instances WHERE instance_id = ?1")?
        .query_row([id], |r| r.get(0))?;
    if instance.execution_id != rewind.execution_id || history_len != rewind.history_len as i64 {
        return Err(StoreError::Conflict(id.to_owned()));
    }
    conn.prepare_cached("DELETE FROM history WHERE instance_id = ?1")?
        .execute([id])?;
    {
        let mut insert = conn.prepare_cached(
            "INSERT INTO history (instance_id, position, event) VALUES (?1, ?2, ?3)",
        )?;
        for (position, event) in rewind.history.iter().enumerate() {
            insert.execute(params![id, position as i64, serde_json::to_string(event)?])?;
        }
    }
    insert_activities(conn, id, &rewind.execution_id, &rewind.activities)?;
    for message in &rewind.messages {
        insert_message(
            conn,
            id,
            Some(&rewind.execution_id),
            None,
            message,
            rewind.now,
        )?;
    }
    conn.prepare_cached(
        "UPDATE instances SET status = 'Running', output = NULL, failure = NULL, \
         completed_at = NULL, updated_at = ?2, history_len = ?3 WHERE instance_id = ?1",
    )?
    .execute(params![id, rewind.now as i64, rewind.history.len() as i64])?;
    Ok(())
}

pub(super) fn write_upgrade(conn: &Connection, upgrade: UpgradeCommit) -> StoreResult<()> {
    let id = upgrade.instance_id.as_str();
    let added = i64::from(upgrade.event.is_some());
    let moved = conn
        .prepare_cached(
            "UPDATE instances SET digest = ?2, history_len = history_len + ?3, updated_at = ?4, \
             lock_token = NULL, lock_expires = 0 \
             WHERE instance_id = ?1 AND execution_id = ?5 AND digest = ?6 AND history_len = ?7 \
             AND lock_expires <= ?4 \
             AND status NOT IN ('Completed', 'Failed', 'Canceled', 'Terminated')",
        )?
        .execute(params![
            id,
            upgrade.to,
            added,
            upgrade.now as i64,
            upgrade.execution_id,
            upgrade.from,
            upgrade.history_len as i64
        ])?;
    if moved == 0 {
        return Err(match load_instance(conn, id)? {
            Some(_) => StoreError::Conflict(id.to_owned()),
            None => StoreError::InstanceNotFound(id.to_owned()),
        });
    }
    if let Some(event) = &upgrade.event {
        conn.prepare_cached(
            "INSERT INTO history (instance_id, position, event) VALUES (?1, ?2, ?3)",
        )?
        .execute(params![
            id,
            upgrade.history_len as i64,
            serde_json::to_string(event)?
        ])?;
    }
    Ok(())
}

/// Writes one orchestration turn. Runs inside the group transaction's
/// savepoint, so an error leaves nothing behind. The ids of the activity tasks it queued.
pub(super) fn write_turn(conn: &Connection, commit: OrchestrationCommit) -> StoreResult<Vec<i64>> {
    let now = commit.now as i64;
    let id = &commit.instance_id;
    let history_len: i64 = match conn
        .prepare_cached(
            "SELECT history_len FROM instances WHERE instance_id = ?1 AND lock_token = ?2",
        )?
        .query_row(params![id, commit.lock_token], |r| r.get(0))
        .optional()?
    {
        Some(len) => len,
        None => return Err(StoreError::LeaseLost),
    };
    let mut position = history_len;
    {
        let mut insert = conn.prepare_cached(
            "INSERT INTO history (instance_id, position, event) VALUES (?1, ?2, ?3)",
        )?;
        for event in &commit.new_history {
            insert.execute(params![id, position, serde_json::to_string(event)?])?;
            position += 1;
        }
    }
    {
        let mut delete = conn.prepare_cached("DELETE FROM inbox WHERE id = ?1")?;
        for message in &commit.consumed {
            delete.execute([message])?;
        }
    }
    if !commit.cancelled_timers.is_empty() {
        let mut delete =
            conn.prepare_cached("DELETE FROM inbox WHERE instance_id = ?1 AND timer_id = ?2")?;
        for timer in &commit.cancelled_timers {
            delete.execute(params![id, timer])?;
        }
    }
    let queued = insert_activities(conn, id, &commit.execution_id, &commit.activities)?;
    if let Some(started @ EventKind::ExecutionStarted { execution_id, .. }) = &commit.new_execution
    {
        // Before the messages: events carried into the new execution must
        // follow its start.
        insert_message(conn, id, Some(execution_id), None, started, commit.now)?;
    }
    for message in &commit.messages {
        if message.instance_id != *id {
            // Messages to other instances are dropped when the target is
            // unknown or finished, as in Durable Functions.
            match load_instance(conn, &message.instance_id)? {
                Some(target) if !target.status.is_terminal() => {}
                _ => continue,
            }
        }
        insert_message(
            conn,
            &message.instance_id,
            message.execution_id.as_deref(),
            message.timer_id,
            &message.event,
            message.visible_at,
        )?;
    }
    insert_logs(conn, id, &commit.logs)?;
    for message in &commit.entity_messages {
        entities::insert_entity_message(conn, message)?;
    }
    for child in commit.new_instances {
        match load_instance(conn, &child.instance_id)? {
            Some(existing) if !existing.status.is_terminal() => {
                let event = sub_orchestration_refused(&child, existing.status);
                insert_message(
                    conn,
                    id,
                    Some(&commit.execution_id),
                    None,
                    &event,
                    commit.now,
                )?;
            }
            _ => insert_instance(conn, child)?,
        }
    }
    let failure = commit
        .failure
        .as_ref()
        .map(serde_json::to_string)
        .transpose()?;
    let completed_at = commit.status.is_terminal().then_some(now);
    let mut execution_id = commit.execution_id.clone();
    if let Some(started) = &commit.new_execution {
        conn.prepare_cached("DELETE FROM history WHERE instance_id = ?1")?
            .execute([id])?;
        position = 0;
        if let EventKind::ExecutionStarted {
            execution_id: next, ..
        } = started
        {
            execution_id = next.clone();
        }
    }
    conn.prepare_cached(
        "UPDATE instances SET status = ?2, output = ?3, failure = ?4, \
         custom_status = CASE WHEN ?5 THEN ?6 ELSE custom_status END, \
         updated_at = ?7, completed_at = ?8, history_len = ?9, execution_id = ?10, \
         lock_token = NULL, lock_expires = 0 WHERE instance_id = ?1",
    )?
    .execute(params![
        id,
        commit.status.as_str(),
        commit.output,
        failure,
        commit.custom_status.is_some(),
        commit.custom_status.clone().flatten(),
        now,
        completed_at,
        position,
        execution_id,
    ])?;
    Ok(queued)
}
