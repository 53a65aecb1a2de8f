//! Reading and writing the rows the other parts share: instances, inbox messages, logs,
//! activity tasks.

use super::*;

impl Columns for rusqlite::Row<'_> {
    type Error = rusqlite::Error;
    fn text(&self, i: usize) -> rusqlite::Result<String> {
        self.get(i)
    }
    fn opt_text(&self, i: usize) -> rusqlite::Result<Option<String>> {
        self.get(i)
    }
    fn int(&self, i: usize) -> rusqlite::Result<i64> {
        self.get(i)
    }
    fn opt_int(&self, i: usize) -> rusqlite::Result<Option<i64>> {
        self.get(i)
    }
}

pub(super) fn instance_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<RawInstance> {
    raw_instance(row)
}

/// A filter's argument as SQLite binds it.
pub(super) fn sqlite_value(arg: SqlArg) -> rusqlite::types::Value {
    use rusqlite::types::Value;
    match arg {
        SqlArg::Text(text) => Value::Text(text),
        SqlArg::BigInt(n) => Value::Integer(n),
        SqlArg::Int(n) => Value::Integer(n.into()),
    }
}

/// How SQLite writes a parameter: numbered, so a clause may reuse one.
pub(super) fn sqlite_mark(n: usize) -> String {
    format!("?{n}")
}

pub(super) fn load_instance(
    conn: &Connection,
    instance_id: &str,
) -> StoreResult<Option<InstanceRecord>> {
    let sql = format!("SELECT {INSTANCE_COLUMNS} FROM instances WHERE instance_id = ?1");
    conn.prepare_cached(&sql)?
        .query_row([instance_id], instance_from_row)
        .optional()?
        .map(finish_instance)
        .transpose()
}

pub(super) fn insert_message(
    conn: &Connection,
    instance_id: &str,
    execution_id: Option<&str>,
    timer_id: Option<u32>,
    event: &EventKind,
    visible_at: Timestamp,
) -> StoreResult<()> {
    conn.prepare_cached(
        "INSERT INTO inbox (instance_id, execution_id, timer_id, kind, event, visible_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        instance_id,
        execution_id,
        timer_id,
        event.label(),
        serde_json::to_string(event)?,
        visible_at as i64
    ])?;
    Ok(())
}

/// Creates an instance and enqueues its `ExecutionStarted`; replaces a
/// finished instance with the same id, refuses an unfinished one.
pub(super) fn insert_instance(conn: &Connection, instance: NewInstance) -> StoreResult<()> {
    if let Some(existing) = load_instance(conn, &instance.instance_id)? {
        if !existing.status.is_terminal() {
            return Err(StoreError::InstanceExists(instance.instance_id));
        }
        delete_instance(conn, &instance.instance_id)?;
    }
    let parent = instance
        .parent
        .as_ref()
        .map(serde_json::to_string)
        .transpose()?;
    let parent_id = instance.parent.as_ref().map(|p| p.instance_id.clone());
    conn.prepare_cached(
        "INSERT INTO instances (instance_id, name, execution_id, digest, status, input, \
         parent, parent_id, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, 'Pending', ?5, ?6, ?7, ?8, ?8)",
    )?
    .execute(params![
        instance.instance_id,
        instance.name,
        instance.execution_id,
        instance.digest,
        instance.input,
        parent,
        parent_id,
        instance.created_at as i64
    ])?;
    let started = execution_started(&instance);
    insert_message(
        conn,
        &instance.instance_id,
        Some(&instance.execution_id),
        None,
        &started,
        instance.created_at,
    )
}

/// Deletes an instance and everything stored for it.
pub(super) fn delete_instance(conn: &Connection, instance_id: &str) -> StoreResult<()> {
    for table in ["history", "inbox", "activities", "logs", "instances"] {
        conn.prepare_cached(&format!("DELETE FROM {table} WHERE instance_id = ?1"))?
            .execute([instance_id])?;
    }
    Ok(())
}

pub(super) fn insert_logs(
    conn: &Connection,
    instance_id: &str,
    logs: &[LogLine],
) -> StoreResult<()> {
    if logs.is_empty() {
        return Ok(());
    }
    let mut insert = conn.prepare_cached(
        "INSERT INTO logs (instance_id, timestamp, level, message) VALUES (?1, ?2, ?3, ?4)",
    )?;
    for line in logs {
        insert.execute(params![
            instance_id,
            line.timestamp as i64,
            line.level,
            line.message
        ])?;
    }
    Ok(())
}

pub(super) fn requires_running(
    conn: &Connection,
    instance_id: &str,
) -> StoreResult<InstanceRecord> {
    require_running(instance_id, load_instance(conn, instance_id)?)
}

/// Queues `activities`; their ids, in order.
pub(super) fn insert_activities(
    conn: &Connection,
    instance_id: &str,
    execution_id: &str,
    activities: &[NewActivity],
) -> StoreResult<Vec<i64>> {
    if activities.is_empty() {
        return Ok(Vec::new());
    }
    let mut insert = conn.prepare_cached(
        "INSERT INTO activities \
             (instance_id, execution_id, task_id, name, input, digest, visible_at, trace) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    let mut ids = Vec::with_capacity(activities.len());
    for activity in activities {
        insert.execute(params![
            instance_id,
            execution_id,
            activity.task_id,
            activity.name,
            activity.input,
            activity.digest,
            activity.visible_at as i64,
            activity.trace
        ])?;
        ids.push(conn.last_insert_rowid());
    }
    Ok(ids)
}
