//! Writing an orchestration turn and a rewind, each in one transaction.

use super::*;

/// See [`Store::rewind`].
pub(super) async fn write_rewind(tx: &Transaction<'_>, rewind: &RewindCommit) -> StoreResult<()> {
    let id = rewind.instance_id.as_str();
    let instance = load_instance(tx, id, "FOR UPDATE")
        .await?
        .ok_or_else(|| StoreError::InstanceNotFound(id.to_owned()))?;
    if instance.status != RuntimeStatus::Failed {
        return Err(StoreError::InstanceNotFailed(
            id.to_owned(),
            instance.status,
        ));
    }
    let history_len: i64 = tx
        .query_one_prepared(
            "SELECT history_len FROM instances WHERE instance_id = $1",
            &[&id],
        )
        .await?
        .try_get(0)?;
    if instance.execution_id != rewind.execution_id || history_len != rewind.history_len as i64 {
        return Err(StoreError::Conflict(id.to_owned()));
    }
    tx.execute_prepared("DELETE FROM history WHERE instance_id = $1", &[&id])
        .await?;
    let history_len = insert_history(tx, id, 0, &rewind.history).await?;
    insert_activities(tx, id, &rewind.execution_id, &rewind.activities).await?;
    for message in &rewind.messages {
        insert_message(
            tx,
            id,
            Some(&rewind.execution_id),
            None,
            message,
            rewind.now,
        )
        .await?;
    }
    tx.execute_prepared(
        "UPDATE instances SET status = 'Running', output = NULL, failure = NULL, \
         completed_at = NULL, updated_at = $2, history_len = $3 WHERE instance_id = $1",
        &[&id, &(rewind.now as i64), &history_len],
    )
    .await?;
    Ok(())
}

/// Writes one orchestration turn if the instance is still locked with the commit's token
/// (else `LeaseLost`); the instance's row stays locked until the transaction ends, so no
/// one takes it over half-way.
pub(super) async fn write_turn(
    tx: &Transaction<'_>,
    commit: &OrchestrationCommit,
) -> StoreResult<()> {
    let id = commit.instance_id.as_str();
    let Some(row) = tx
        .query_opt_prepared(
            "SELECT history_len FROM instances WHERE instance_id = $1 AND lock_token = $2 \
             FOR UPDATE",
            &[&id, &commit.lock_token],
        )
        .await?
    else {
        return Err(StoreError::LeaseLost);
    };
    let mut position = insert_history(tx, id, row.try_get(0)?, &commit.new_history).await?;
    tx.execute_prepared("DELETE FROM inbox WHERE id = ANY($1)", &[&commit.consumed])
        .await?;
    if !commit.cancelled_timers.is_empty() {
        let timers: Vec<i64> = commit.cancelled_timers.iter().map(|&t| t.into()).collect();
        tx.execute_prepared(
            "DELETE FROM inbox WHERE instance_id = $1 AND timer_id = ANY($2)",
            &[&id, &timers],
        )
        .await?;
    }
    insert_activities(tx, id, &commit.execution_id, &commit.activities).await?;
    if let Some(started @ EventKind::ExecutionStarted { execution_id, .. }) = &commit.new_execution
    {
        // Before the messages: events carried into the new execution must
        // follow its start.
        insert_message(tx, id, Some(execution_id), None, started, commit.now).await?;
    }
    for message in &commit.messages {
        // Messages to other instances are dropped when the target is unknown or finished,
        // as in Durable Functions. The target is read, not locked: two turns sending to each
        // other must not wait on each other. One that finishes meanwhile drops the message
        // when it next locks it (`drop_messages`).
        if message.instance_id != id {
            match load_instance(tx, &message.instance_id, "").await? {
                Some(target) if !target.status.is_terminal() => {}
                _ => continue,
            }
        }
        insert_message(
            tx,
            &message.instance_id,
            message.execution_id.as_deref(),
            message.timer_id,
            &message.event,
            message.visible_at,
        )
        .await?;
    }
    insert_logs(tx, id, &commit.logs).await?;
    for message in &commit.entity_messages {
        entities::insert_entity_message(tx, message).await?;
    }
    for child in &commit.new_instances {
        match insert_instance(tx, child).await {
            Err(StoreError::InstanceExists(_)) => {
                let status = load_instance(tx, &child.instance_id, "")
                    .await?
                    .map_or(RuntimeStatus::Pending, |existing| existing.status);
                let event = sub_orchestration_refused(child, status);
                let execution = Some(commit.execution_id.as_str());
                insert_message(tx, id, execution, None, &event, commit.now).await?;
            }
            other => other?,
        }
    }
    let failure = commit
        .failure
        .as_ref()
        .map(serde_json::to_string)
        .transpose()?;
    let now = commit.now as i64;
    let completed_at = commit.status.is_terminal().then_some(now);
    let mut execution_id = commit.execution_id.as_str();
    if let Some(started) = &commit.new_execution {
        tx.execute_prepared("DELETE FROM history WHERE instance_id = $1", &[&id])
            .await?;
        position = 0;
        if let EventKind::ExecutionStarted {
            execution_id: next, ..
        } = started
        {
            execution_id = next;
        }
    }
    tx.execute_prepared(
        "UPDATE instances SET status = $2, output = $3, failure = $4, \
         custom_status = CASE WHEN $5 THEN $6 ELSE custom_status END, \
         updated_at = $7, completed_at = $8, history_len = $9, execution_id = $10, \
         affinity = split_part(lock_token, '/', 1), lock_token = NULL, lock_expires = 0 \
         WHERE instance_id = $1",
        &[
            &id,
            &commit.status.as_str(),
            &commit.output,
            &failure,
            &commit.custom_status.is_some(),
            &commit.custom_status.clone().flatten(),
            &now,
            &completed_at,
            &position,
            &execution_id,
        ],
    )
    .await?;
    Ok(())
}
