//! Reading and writing the rows the other parts share: instances, inbox messages, logs,
//! activity tasks. Every function runs inside the caller's transaction (or on a plain
//! connection, for reads).

use super::*;
use std::borrow::Cow;

impl Columns for Row {
    type Error = tokio_postgres::Error;
    fn text(&self, i: usize) -> Result<String, Self::Error> {
        self.try_get(i)
    }
    fn opt_text(&self, i: usize) -> Result<Option<String>, Self::Error> {
        self.try_get(i)
    }
    fn int(&self, i: usize) -> Result<i64, Self::Error> {
        self.try_get(i)
    }
    fn opt_int(&self, i: usize) -> Result<Option<i64>, Self::Error> {
        self.try_get(i)
    }
}

/// The instance in `row`, read from [`INSTANCE_COLUMNS`] at its start.
pub(super) fn instance_from_row(row: &Row) -> StoreResult<InstanceRecord> {
    finish_instance(raw_instance(row)?)
}

/// A filter's argument as PostgreSQL binds it.
pub(super) fn pg_value(arg: SqlArg) -> Box<dyn ToSql + Sync + Send> {
    match arg {
        SqlArg::Text(text) => Box::new(text),
        SqlArg::BigInt(n) => Box::new(n),
        SqlArg::Int(n) => Box::new(n),
    }
}

/// How PostgreSQL writes a parameter.
pub(super) fn pg_mark(n: usize) -> String {
    format!("${n}")
}

/// Borrows boxed arguments as a query takes them.
pub(super) fn borrowed(args: &[Box<dyn ToSql + Sync + Send>]) -> Vec<&(dyn ToSql + Sync)> {
    args.iter()
        .map(|a| a.as_ref() as &(dyn ToSql + Sync))
        .collect()
}

/// One instance; `lock` is appended to the query (`FOR UPDATE`, `FOR SHARE` or nothing).
pub(super) async fn load_instance(
    client: &impl Prepared,
    instance_id: &str,
    lock: &str,
) -> StoreResult<Option<InstanceRecord>> {
    let sql = format!("SELECT {INSTANCE_COLUMNS} FROM instances WHERE instance_id = $1 {lock}");
    client
        .query_opt_prepared(&sql, &[&instance_id])
        .await?
        .as_ref()
        .map(instance_from_row)
        .transpose()
}

/// The instance, held against changes until the transaction ends, if it is running;
/// `InstanceNotFound` or `InstanceFinished` otherwise.
pub(super) async fn requires_running(
    tx: &Transaction<'_>,
    instance_id: &str,
) -> StoreResult<InstanceRecord> {
    let instance = load_instance(tx, instance_id, "FOR SHARE").await?;
    require_running(instance_id, instance)
}

pub(super) async fn insert_message(
    tx: &Transaction<'_>,
    instance_id: &str,
    execution_id: Option<&str>,
    timer_id: Option<u32>,
    event: &EventKind,
    visible_at: Timestamp,
) -> StoreResult<()> {
    tx.execute_prepared(
        "INSERT INTO inbox (instance_id, execution_id, timer_id, kind, event, visible_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            &instance_id,
            &execution_id,
            &timer_id.map(i64::from),
            &event.label(),
            &serde_json::to_string(event)?,
            &(visible_at as i64),
        ],
    )
    .await?;
    Ok(())
}

/// Creates an instance and enqueues its `ExecutionStarted`; replaces a finished instance
/// with the same id, refuses an unfinished one (`InstanceExists`, also when another
/// transaction creates it first).
pub(super) async fn insert_instance(
    tx: &Transaction<'_>,
    instance: &NewInstance,
) -> StoreResult<()> {
    let id = instance.instance_id.as_str();
    if let Some(existing) = load_instance(tx, id, "FOR UPDATE").await? {
        if !existing.status.is_terminal() {
            return Err(StoreError::InstanceExists(id.to_owned()));
        }
        delete_instances(tx, &[id.to_owned()]).await?;
    }
    let parent = instance
        .parent
        .as_ref()
        .map(serde_json::to_string)
        .transpose()?;
    let parent_id = instance.parent.as_ref().map(|p| p.instance_id.as_str());
    let inserted = tx
        .execute_prepared(
            "INSERT INTO instances (instance_id, name, execution_id, digest, status, input, \
             parent, parent_id, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, 'Pending', $5, $6, $7, $8, $8) \
             ON CONFLICT (instance_id) DO NOTHING",
            &[
                &id,
                &instance.name,
                &instance.execution_id,
                &instance.digest,
                &instance.input,
                &parent,
                &parent_id,
                &(instance.created_at as i64),
            ],
        )
        .await?;
    if inserted == 0 {
        // Created by another transaction since we looked.
        return Err(StoreError::InstanceExists(id.to_owned()));
    }
    insert_message(
        tx,
        id,
        Some(&instance.execution_id),
        None,
        &execution_started(instance),
        instance.created_at,
    )
    .await
}

/// Deletes instances and everything stored for them.
pub(super) async fn delete_instances(tx: &Transaction<'_>, ids: &[String]) -> StoreResult<()> {
    for table in ["history", "inbox", "activities", "logs", "instances"] {
        tx.execute_prepared(
            &format!("DELETE FROM {table} WHERE instance_id = ANY($1)"),
            &[&ids],
        )
        .await?;
    }
    Ok(())
}

/// Log lines as three arrays (timestamps, levels, messages), for `unnest`.
pub(super) fn log_columns<'a>(
    logs: impl IntoIterator<Item = &'a LogLine>,
) -> (Vec<i64>, Vec<&'a str>, Vec<Cow<'a, str>>) {
    let mut columns = (Vec::new(), Vec::new(), Vec::new());
    for line in logs {
        columns.0.push(line.timestamp as i64);
        columns.1.push(line.level.as_str());
        columns.2.push(log_text(&line.message));
    }
    columns
}

/// A log line as PostgreSQL can store it: its text type cannot hold a NUL character, which a
/// guest may well print, so each becomes U+FFFD (a line lost over it would stall the work).
pub(super) fn log_text(line: &str) -> Cow<'_, str> {
    if line.contains('\0') {
        Cow::Owned(line.replace('\0', "\u{FFFD}"))
    } else {
        Cow::Borrowed(line)
    }
}

pub(super) async fn insert_logs(
    tx: &Transaction<'_>,
    instance_id: &str,
    logs: &[LogLine],
) -> StoreResult<()> {
    if logs.is_empty() {
        return Ok(());
    }
    let (timestamps, levels, messages) = log_columns(logs);
    tx.execute_prepared(
        "INSERT INTO logs (instance_id, timestamp, level, message) \
         SELECT $1::TEXT, timestamp, level, message \
         FROM unnest($2::BIGINT[], $3::TEXT[], $4::TEXT[]) WITH ORDINALITY \
         AS l(timestamp, level, message, n) ORDER BY n",
        &[&instance_id, &timestamps, &levels, &messages],
    )
    .await?;
    Ok(())
}

pub(super) async fn insert_activities(
    tx: &Transaction<'_>,
    instance_id: &str,
    execution_id: &str,
    activities: &[NewActivity],
) -> StoreResult<()> {
    for activity in activities {
        tx.execute_prepared(
            "INSERT INTO activities \
             (instance_id, execution_id, task_id, name, input, digest, visible_at, trace) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            &[
                &instance_id,
                &execution_id,
                &i64::from(activity.task_id),
                &activity.name,
                &activity.input,
                &activity.digest,
                &(activity.visible_at as i64),
                &activity.trace,
            ],
        )
        .await?;
    }
    Ok(())
}

/// Appends events to an instance's history from `position` on; returns the position after
/// the last.
pub(super) async fn insert_history(
    tx: &Transaction<'_>,
    instance_id: &str,
    position: i64,
    events: &[HistoryEvent],
) -> StoreResult<i64> {
    if events.is_empty() {
        return Ok(position);
    }
    let encoded = events
        .iter()
        .map(serde_json::to_string)
        .collect::<Result<Vec<_>, _>>()?;
    tx.execute_prepared(
        "INSERT INTO history (instance_id, position, event) \
         SELECT $1::TEXT, $2::BIGINT + n - 1, event FROM unnest($3::TEXT[]) WITH ORDINALITY AS e(event, n)",
        &[&instance_id, &position, &encoded],
    )
    .await?;
    Ok(position + events.len() as i64)
}
