//! Writing an orchestration turn and a rewind, each in one transaction.
//!
//! Most turns (they append history, consume messages, queue activities, send messages and
//! change the instance's status) are written in batches ([`PlainTurns`]): one statement for
//! every such turn committed at once. A turn that continues as new,
//! starts sub-orchestrations or talks to entities takes the general path ([`write_turn`]),
//! statement by statement in a transaction.

use super::batch::BatchWrite;
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

pub(super) async fn write_upgrade(
    tx: &Transaction<'_>,
    upgrade: &UpgradeCommit,
) -> StoreResult<()> {
    let id = upgrade.instance_id.as_str();
    let added = i64::from(upgrade.event.is_some());
    let moved = tx
        .execute_prepared(
            "UPDATE instances SET digest = $2, history_len = history_len + $3, updated_at = $4, \
             lock_token = NULL, lock_expires = 0 \
             WHERE instance_id = $1 AND execution_id = $5 AND digest = $6 AND history_len = $7 \
             AND lock_expires <= $4 \
             AND status NOT IN ('Completed', 'Failed', 'Canceled', 'Terminated')",
            &[
                &id,
                &upgrade.to,
                &added,
                &(upgrade.now as i64),
                &upgrade.execution_id,
                &upgrade.from,
                &i64::from(upgrade.history_len),
            ],
        )
        .await?;
    if moved == 0 {
        return Err(match load_instance(tx, id, "").await? {
            Some(_) => StoreError::Conflict(id.to_owned()),
            None => StoreError::InstanceNotFound(id.to_owned()),
        });
    }
    if let Some(event) = &upgrade.event {
        let position = i64::from(upgrade.history_len);
        insert_history(tx, id, position, std::slice::from_ref(event)).await?;
    }
    Ok(())
}

/// Whether `commit` can be written by [`write_plain_turn`].
pub(super) fn is_plain(commit: &OrchestrationCommit) -> bool {
    commit.new_execution.is_none()
        && commit.new_instances.is_empty()
        && commit.entity_messages.is_empty()
}

/// Writes plain turns ([`is_plain`]) in batches: what [`write_turn`] does for each, in one
/// statement for the lot. A turn whose lock token no longer holds its instance writes nothing.
pub(super) struct PlainTurns;

/// The columns of a batch of turns, each part (history, activities, messages, logs) with the
/// number of its turn (1-based) beside it.
#[derive(Default)]
struct TurnColumns<'a> {
    ids: Vec<&'a str>,
    tokens: Vec<&'a str>,
    statuses: Vec<&'a str>,
    outputs: Vec<Option<&'a str>>,
    failures: Vec<Option<String>>,
    set_custom: Vec<bool>,
    customs: Vec<Option<&'a str>>,
    times: Vec<i64>,
    completed: Vec<Option<i64>>,
    appended: Vec<i64>,
    executions: Vec<&'a str>,
    history_turn: Vec<i64>,
    history_index: Vec<i64>,
    history_event: Vec<String>,
    consumed_turn: Vec<i64>,
    consumed_id: Vec<i64>,
    cancelled_turn: Vec<i64>,
    cancelled_timer: Vec<i64>,
    activity_turn: Vec<i64>,
    activity_task: Vec<i64>,
    activity_name: Vec<&'a str>,
    activity_input: Vec<&'a str>,
    activity_digest: Vec<&'a str>,
    activity_visible: Vec<i64>,
    activity_trace: Vec<Option<&'a str>>,
    message_turn: Vec<i64>,
    message_target: Vec<&'a str>,
    message_execution: Vec<Option<&'a str>>,
    message_timer: Vec<Option<i64>>,
    message_kind: Vec<&'a str>,
    message_event: Vec<String>,
    message_visible: Vec<i64>,
    log_turn: Vec<i64>,
    log_time: Vec<i64>,
    log_level: Vec<&'a str>,
    log_message: Vec<std::borrow::Cow<'a, str>>,
}

impl<'a> TurnColumns<'a> {
    fn of(commits: &'a [OrchestrationCommit]) -> StoreResult<Self> {
        let mut c = TurnColumns::default();
        for (turn, commit) in (1..).zip(commits) {
            c.ids.push(&commit.instance_id);
            c.tokens.push(&commit.lock_token);
            c.statuses.push(commit.status.as_str());
            c.outputs.push(commit.output.as_deref());
            c.failures.push(
                commit
                    .failure
                    .as_ref()
                    .map(serde_json::to_string)
                    .transpose()?,
            );
            c.set_custom.push(commit.custom_status.is_some());
            c.customs
                .push(commit.custom_status.as_ref().and_then(|s| s.as_deref()));
            let now = commit.now as i64;
            c.times.push(now);
            c.completed.push(commit.status.is_terminal().then_some(now));
            c.appended.push(commit.new_history.len() as i64);
            c.executions.push(&commit.execution_id);
            for (k, event) in (0..).zip(&commit.new_history) {
                c.history_turn.push(turn);
                c.history_index.push(k);
                c.history_event.push(serde_json::to_string(event)?);
            }
            for &id in &commit.consumed {
                c.consumed_turn.push(turn);
                c.consumed_id.push(id);
            }
            for &timer in &commit.cancelled_timers {
                c.cancelled_turn.push(turn);
                c.cancelled_timer.push(timer.into());
            }
            for a in &commit.activities {
                c.activity_turn.push(turn);
                c.activity_task.push(a.task_id.into());
                c.activity_name.push(&a.name);
                c.activity_input.push(&a.input);
                c.activity_digest.push(&a.digest);
                c.activity_visible.push(a.visible_at as i64);
                c.activity_trace.push(a.trace.as_deref());
            }
            for m in &commit.messages {
                c.message_turn.push(turn);
                c.message_target.push(&m.instance_id);
                c.message_execution.push(m.execution_id.as_deref());
                c.message_timer.push(m.timer_id.map(i64::from));
                c.message_kind.push(m.event.label());
                c.message_event.push(serde_json::to_string(&m.event)?);
                c.message_visible.push(m.visible_at as i64);
            }
            for line in &commit.logs {
                c.log_turn.push(turn);
                c.log_time.push(line.timestamp as i64);
                c.log_level.push(&line.level);
                c.log_message.push(log_text(&line.message));
            }
        }
        Ok(c)
    }
}

impl BatchWrite for PlainTurns {
    type Item = OrchestrationCommit;

    async fn write(
        &self,
        client: &deadpool_postgres::ClientWrapper,
        commits: &[OrchestrationCommit],
    ) -> StoreResult<Vec<bool>> {
        let c = TurnColumns::of(commits)?;
        // Every part joins `done`, the instances updated: those the commits' tokens still
        // lock. The parts read one snapshot: messages to other instances go only to those it
        // shows unfinished, as in `write_turn`.
        let done = client
            .query_prepared(
                "WITH turn AS ( \
                     SELECT * FROM unnest($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::TEXT[], \
                         $5::TEXT[], $6::BOOL[], $7::TEXT[], $8::BIGINT[], $9::BIGINT[], \
                         $10::BIGINT[], $11::TEXT[]) WITH ORDINALITY \
                     AS t(id, token, status, output, failure, set_custom, custom, at, \
                         completed_at, appended, execution_id, n)), \
                 done AS ( \
                     UPDATE instances i SET status = t.status, output = t.output, \
                     failure = t.failure, \
                     custom_status = CASE WHEN t.set_custom THEN t.custom \
                         ELSE i.custom_status END, \
                     updated_at = t.at, completed_at = t.completed_at, \
                     history_len = i.history_len + t.appended, \
                     affinity = split_part(i.lock_token, '/', 1), lock_token = NULL, \
                     lock_expires = 0 \
                     FROM turn t WHERE i.instance_id = t.id AND i.lock_token = t.token \
                     RETURNING t.n, t.id, t.execution_id, i.history_len - t.appended AS start), \
                 appended AS ( \
                     INSERT INTO history (instance_id, position, event) \
                     SELECT done.id, done.start + e.k, e.event \
                     FROM done JOIN unnest($12::BIGINT[], $13::BIGINT[], $14::TEXT[]) \
                         AS e(n, k, event) ON e.n = done.n), \
                 consumed AS ( \
                     DELETE FROM inbox WHERE id IN ( \
                         SELECT m.id FROM done JOIN unnest($15::BIGINT[], $16::BIGINT[]) \
                             AS m(n, id) ON m.n = done.n)), \
                 cancelled AS ( \
                     DELETE FROM inbox m USING done \
                     JOIN unnest($17::BIGINT[], $18::BIGINT[]) AS c(n, timer) ON c.n = done.n \
                     WHERE m.instance_id = done.id AND m.timer_id = c.timer), \
                 queued AS ( \
                     INSERT INTO activities \
                     (instance_id, execution_id, task_id, name, input, digest, visible_at, \
                         trace) \
                     SELECT done.id, done.execution_id, a.task_id, a.name, a.input, a.digest, \
                         a.visible_at, a.trace \
                     FROM done JOIN unnest($19::BIGINT[], $20::BIGINT[], $21::TEXT[], \
                         $22::TEXT[], $23::TEXT[], $24::BIGINT[], $36::TEXT[]) WITH ORDINALITY \
                         AS a(n, task_id, name, input, digest, visible_at, trace, k) \
                         ON a.n = done.n \
                     ORDER BY a.k), \
                 sent AS ( \
                     INSERT INTO inbox \
                     (instance_id, execution_id, timer_id, kind, event, visible_at) \
                     SELECT m.target, m.execution_id, m.timer_id, m.kind, m.event, m.visible_at \
                     FROM done JOIN unnest($25::BIGINT[], $26::TEXT[], $27::TEXT[], \
                         $28::BIGINT[], $29::TEXT[], $30::TEXT[], $31::BIGINT[]) WITH ORDINALITY \
                         AS m(n, target, execution_id, timer_id, kind, event, visible_at, k) \
                         ON m.n = done.n \
                     WHERE m.target = done.id OR EXISTS (SELECT 1 FROM instances t \
                         WHERE t.instance_id = m.target \
                         AND t.status NOT IN ('Completed', 'Failed', 'Canceled', 'Terminated')) \
                     ORDER BY m.k), \
                 logged AS ( \
                     INSERT INTO logs (instance_id, timestamp, level, message) \
                     SELECT done.id, l.timestamp, l.level, l.message \
                     FROM done JOIN unnest($32::BIGINT[], $33::BIGINT[], $34::TEXT[], \
                         $35::TEXT[]) WITH ORDINALITY AS l(n, timestamp, level, message, k) \
                         ON l.n = done.n \
                     ORDER BY l.k) \
                 SELECT n FROM done",
                &[
                    &c.ids,
                    &c.tokens,
                    &c.statuses,
                    &c.outputs,
                    &c.failures,
                    &c.set_custom,
                    &c.customs,
                    &c.times,
                    &c.completed,
                    &c.appended,
                    &c.executions,
                    &c.history_turn,
                    &c.history_index,
                    &c.history_event,
                    &c.consumed_turn,
                    &c.consumed_id,
                    &c.cancelled_turn,
                    &c.cancelled_timer,
                    &c.activity_turn,
                    &c.activity_task,
                    &c.activity_name,
                    &c.activity_input,
                    &c.activity_digest,
                    &c.activity_visible,
                    &c.message_turn,
                    &c.message_target,
                    &c.message_execution,
                    &c.message_timer,
                    &c.message_kind,
                    &c.message_event,
                    &c.message_visible,
                    &c.log_turn,
                    &c.log_time,
                    &c.log_level,
                    &c.log_message,
                    &c.activity_trace,
                ],
            )
            .await?;
        let mut written = vec![false; commits.len()];
        for row in &done {
            let n: i64 = row.try_get(0)?;
            written[n as usize - 1] = true;
        }
        Ok(written)
    }
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
