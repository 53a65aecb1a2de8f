//! Row encoding every SQL backend shares: the instance columns and how their text is decoded,
//! and the `WHERE` clauses of the list filters. Events, failures, parents and callers are
//! stored as JSON text; statuses by name. The dialects differ only in how a parameter is
//! written (`?` in SQLite, `$1` in PostgreSQL), which the caller supplies.

use super::*;
use crate::types::failure_types;

/// A filter's argument, typed so each backend binds it as its columns expect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum SqlArg {
    /// A text column.
    Text(String),
    /// A time or count column (64-bit).
    BigInt(i64),
    /// A character count (PostgreSQL's `substr` takes a 32-bit one).
    Int(i32),
}

/// A filter clause being built: parameters are numbered in the order they are pushed.
struct Clauses<'a> {
    sql: String,
    args: Vec<SqlArg>,
    mark: &'a dyn Fn(usize) -> String,
}

impl Clauses<'_> {
    /// Appends `clause`, each `?` in it replaced by the next parameter (bound to `args`).
    fn push(&mut self, clause: &str, args: impl IntoIterator<Item = SqlArg>) {
        let mut parts = clause.split('?');
        self.sql.push_str(parts.next().unwrap_or_default());
        let mut args = args.into_iter();
        for part in parts {
            self.args.extend(args.next());
            self.sql.push_str(&(self.mark)(self.args.len()));
            self.sql.push_str(part);
        }
    }
}

/// The status stored as `s`.
pub(super) fn status_of(s: &str) -> StoreResult<RuntimeStatus> {
    RuntimeStatus::parse(s).ok_or_else(|| StoreError::Corrupt(format!("unknown status `{s}`")))
}

/// The statement of [`super::Store::collect_components`]: with `dry_run` it selects the
/// digests of the components retired by the first parameter (`mark`: `?1` or `$1`) that
/// nothing needs, else deletes them, returning their digests. One statement, so an instance
/// pinned meanwhile keeps its component.
pub(super) fn collect_components_sql(mark: &str, dry_run: bool) -> String {
    let verb = if dry_run { "SELECT digest" } else { "DELETE" };
    let returning = if dry_run { "" } else { " RETURNING digest" };
    format!(
        "{verb} FROM components WHERE retired_at IS NOT NULL AND retired_at <= {mark} \
         AND NOT EXISTS (SELECT 1 FROM instances i WHERE i.digest = components.digest \
             AND i.status NOT IN ('Completed', 'Terminated', 'Canceled')) \
         AND NOT EXISTS (SELECT 1 FROM activities a WHERE a.digest = components.digest)\
         {returning}"
    )
}

/// The statement of [`super::Store::backlog`] (`mark`: the parameter holding `now`, `?1` or
/// `$1`): rows of (what, count, oldest), read by [`backlog_from_rows`]. One statement, so the
/// figures are of one moment.
pub(super) fn backlog_sql(mark: &str) -> String {
    let not_suspended = "NOT EXISTS (SELECT 1 FROM instances i \
        WHERE i.instance_id = m.instance_id AND i.status = 'Suspended')";
    format!(
        "SELECT 'status:' || status, COUNT(*), CAST(NULL AS BIGINT) FROM instances GROUP BY status \
         UNION ALL SELECT 'messages', COUNT(*), MIN(m.visible_at) FROM inbox m \
             WHERE m.visible_at <= {mark} AND {not_suspended} \
         UNION ALL SELECT 'timers', COUNT(*), MIN(m.visible_at) FROM inbox m \
             WHERE m.visible_at <= {mark} AND m.timer_id IS NOT NULL AND {not_suspended} \
         UNION ALL SELECT 'activities', COUNT(*), MIN(visible_at) FROM activities \
             WHERE visible_at <= {mark} AND lock_expires <= {mark} \
         UNION ALL SELECT 'running', COUNT(*), CAST(NULL AS BIGINT) FROM activities \
             WHERE lock_expires > {mark} \
         UNION ALL SELECT 'entities', COUNT(*), MIN(visible_at) FROM entity_inbox \
             WHERE visible_at <= {mark}"
    )
}

/// The [`Backlog`] in the rows of [`backlog_sql`].
pub(super) fn backlog_from_rows(
    rows: impl IntoIterator<Item = (String, i64, Option<i64>)>,
) -> StoreResult<Backlog> {
    let mut backlog = Backlog::default();
    for (what, count, oldest) in rows {
        let queue = Queue {
            count: count as u64,
            oldest: oldest.map(|t| t as Timestamp),
        };
        match what.as_str() {
            "messages" => backlog.messages = queue,
            "timers" => backlog.timers = queue,
            "activities" => backlog.activities = queue,
            "running" => backlog.running_activities = queue.count,
            "entities" => backlog.entity_messages = queue,
            other => {
                let status = other.strip_prefix("status:").unwrap_or(other);
                backlog.instances.push((status_of(status)?, queue.count));
            }
        }
    }
    Ok(backlog)
}

/// The finished statuses as SQL string literals, for `status IN (...)`.
pub(super) const TERMINAL_STATUSES: &str = "'Completed', 'Failed', 'Canceled', 'Terminated'";

/// The columns of `instances` that make an [`InstanceRecord`], in the order
/// [`RawInstance`] is read from.
pub(super) const INSTANCE_COLUMNS: &str = "instance_id, name, execution_id, digest, status, input, output, \
     failure, custom_status, created_at, updated_at, completed_at, parent";

/// A row of `instances` before its JSON and enum columns are decoded
/// (a driver's row closure cannot return our errors).
pub(super) struct RawInstance {
    /// The record, with placeholders where the fields below go.
    pub(super) record: InstanceRecord,
    /// The `status` column.
    pub(super) status: String,
    /// The `failure` column, JSON.
    pub(super) failure: Option<String>,
    /// The `parent` column, JSON.
    pub(super) parent: Option<String>,
}

/// Reads a result row's columns by position, as each driver does.
pub(super) trait Columns {
    /// The driver's error.
    type Error;
    /// A text column.
    fn text(&self, i: usize) -> Result<String, Self::Error>;
    /// A text column that may be NULL.
    fn opt_text(&self, i: usize) -> Result<Option<String>, Self::Error>;
    /// An integer column.
    fn int(&self, i: usize) -> Result<i64, Self::Error>;
    /// An integer column that may be NULL.
    fn opt_int(&self, i: usize) -> Result<Option<i64>, Self::Error>;
}

/// The instance in a row that starts with [`INSTANCE_COLUMNS`], its JSON and enum columns
/// not yet decoded ([`finish_instance`]).
pub(super) fn raw_instance<R: Columns + ?Sized>(row: &R) -> Result<RawInstance, R::Error> {
    Ok(RawInstance {
        record: InstanceRecord {
            instance_id: row.text(0)?,
            name: row.text(1)?,
            execution_id: row.text(2)?,
            digest: row.text(3)?,
            status: RuntimeStatus::Pending,
            input: row.text(5)?,
            output: row.opt_text(6)?,
            failure: None,
            custom_status: row.opt_text(8)?,
            created_at: row.int(9)? as Timestamp,
            updated_at: row.int(10)? as Timestamp,
            completed_at: row.opt_int(11)?.map(|t| t as Timestamp),
            parent: None,
        },
        status: row.text(4)?,
        failure: row.opt_text(7)?,
        parent: row.opt_text(12)?,
    })
}

/// Decodes the status, failure and parent of a row.
pub(super) fn finish_instance(raw: RawInstance) -> StoreResult<InstanceRecord> {
    let mut record = raw.record;
    record.status = status_of(&raw.status)?;
    record.failure = raw.failure.map(|f| serde_json::from_str(&f)).transpose()?;
    record.parent = raw.parent.map(|p| serde_json::from_str(&p)).transpose()?;
    Ok(record)
}

/// The `WHERE` clause and arguments of an instance filter (without limit); `mark(n)` writes
/// the `n`th parameter (from 1).
pub(super) fn instance_filter_sql(
    filter: &InstanceFilter,
    mark: &dyn Fn(usize) -> String,
) -> (String, Vec<SqlArg>) {
    let mut c = Clauses {
        sql: String::from("1 = 1"),
        args: Vec::new(),
        mark,
    };
    if !filter.statuses.is_empty() {
        let marks = vec!["?"; filter.statuses.len()].join(", ");
        let statuses = filter.statuses.iter();
        c.push(
            &format!(" AND status IN ({marks})"),
            statuses.map(|s| SqlArg::Text(s.as_str().into())),
        );
    }
    if let Some(from) = filter.created_from {
        c.push(" AND created_at >= ?", [SqlArg::BigInt(from as i64)]);
    }
    if let Some(to) = filter.created_to {
        c.push(" AND created_at <= ?", [SqlArg::BigInt(to as i64)]);
    }
    if let Some(prefix) = &filter.id_prefix {
        // `substr` counts characters, not bytes, in both dialects; not `LIKE`, whose
        // wildcards a prefix may contain.
        let chars = i32::try_from(prefix.chars().count()).unwrap_or(i32::MAX);
        c.push(
            " AND substr(instance_id, 1, ?) = ?",
            [SqlArg::Int(chars), SqlArg::Text(prefix.clone())],
        );
    }
    if let Some(name) = &filter.name {
        c.push(" AND name = ?", [SqlArg::Text(name.clone())]);
    }
    if let Some(digest) = &filter.digest {
        c.push(" AND digest = ?", [SqlArg::Text(digest.clone())]);
    }
    if let Some(after) = &filter.after {
        let at = after.created_at as i64;
        let past = if filter.newest_first { "<" } else { ">" };
        c.push(
            &format!(" AND (created_at {past} ? OR (created_at = ? AND instance_id {past} ?))"),
            [
                SqlArg::BigInt(at),
                SqlArg::BigInt(at),
                SqlArg::Text(after.instance_id.clone()),
            ],
        );
    }
    (c.sql, c.args)
}

/// The `ORDER BY` clause of a list of instances: list order, oldest or newest first.
pub(super) fn instance_order_sql(filter: &InstanceFilter) -> &'static str {
    if filter.newest_first {
        " ORDER BY created_at DESC, instance_id DESC"
    } else {
        " ORDER BY created_at, instance_id"
    }
}

/// The columns that make an [`EntityRecord`] of the entity `e`, its pending messages counted.
pub(super) const ENTITY_COLUMNS: &str = "e.name, e.key, e.state, e.last_operation_at, \
    (SELECT COUNT(*) FROM entity_inbox m WHERE m.name = e.name AND m.key = e.key), e.locked_by";

/// The entity in a row of [`ENTITY_COLUMNS`].
pub(super) fn entity_record<R: Columns + ?Sized>(row: &R) -> Result<EntityRecord, R::Error> {
    Ok(EntityRecord {
        name: row.text(0)?,
        key: row.text(1)?,
        state: row.opt_text(2)?,
        last_operation_at: row.int(3)? as Timestamp,
        pending: row.int(4)? as u64,
        locked_by: row.opt_text(5)?,
    })
}

/// The instance a message goes to, if it is running: `InstanceNotFound` or
/// `InstanceFinished` otherwise.
pub(super) fn require_running(
    instance_id: &str,
    instance: Option<InstanceRecord>,
) -> StoreResult<InstanceRecord> {
    let instance = instance.ok_or_else(|| StoreError::InstanceNotFound(instance_id.to_owned()))?;
    if instance.status.is_terminal() {
        return Err(StoreError::InstanceFinished(
            instance_id.to_owned(),
            instance.status,
        ));
    }
    Ok(instance)
}

/// Checks an instance to purge has finished: `InstanceNotFound` or `InstanceNotFinished`
/// otherwise.
pub(super) fn require_finished(
    instance_id: &str,
    instance: Option<InstanceRecord>,
) -> StoreResult<()> {
    let instance = instance.ok_or_else(|| StoreError::InstanceNotFound(instance_id.to_owned()))?;
    if !instance.status.is_terminal() {
        return Err(StoreError::InstanceNotFinished(
            instance_id.to_owned(),
            instance.status,
        ));
    }
    Ok(())
}

/// Whether an entity's answer goes to its caller: only while the caller runs the execution
/// that called (answers to one that finished or moved on are dropped, like late events).
pub(super) fn answer_reaches(answer: &OutboundMessage, caller: Option<&InstanceRecord>) -> bool {
    caller.is_some_and(|caller| {
        !caller.status.is_terminal()
            && answer.execution_id.as_deref() == Some(caller.execution_id.as_str())
    })
}

/// The query listing the entities (`e`) that match `filter`, in (name, key) order, with its
/// arguments; `mark(n)` writes the `n`th parameter (from 1).
pub(super) fn entity_list_sql(
    filter: &EntityFilter,
    mark: &dyn Fn(usize) -> String,
) -> (String, Vec<SqlArg>) {
    let mut c = Clauses {
        sql: format!("SELECT {ENTITY_COLUMNS} FROM entities e WHERE 1 = 1"),
        args: Vec::new(),
        mark,
    };
    if let Some(name) = &filter.name {
        c.push(" AND e.name = ?", [SqlArg::Text(name.clone())]);
    }
    if let Some(from) = filter.last_operation_from {
        c.push(
            " AND e.last_operation_at >= ?",
            [SqlArg::BigInt(from as i64)],
        );
    }
    if let Some(to) = filter.last_operation_to {
        c.push(" AND e.last_operation_at <= ?", [SqlArg::BigInt(to as i64)]);
    }
    if let Some(after) = &filter.after {
        let (name, key) = (SqlArg::Text(after.name.clone()), after.key.clone());
        c.push(
            " AND (e.name > ? OR (e.name = ? AND e.key > ?))",
            [name.clone(), name, SqlArg::Text(key)],
        );
    }
    if !filter.include_empty {
        c.push(" AND e.state IS NOT NULL", []);
    }
    c.push(" ORDER BY e.name, e.key", []);
    if let Some(limit) = filter.limit {
        c.push(&format!(" LIMIT {limit}"), []);
    }
    (c.sql, c.args)
}

/// The message a parent gets when its sub-orchestration cannot start because an unfinished
/// instance (in `status`) has the child's id.
pub(super) fn sub_orchestration_refused(child: &NewInstance, status: RuntimeStatus) -> EventKind {
    let task_id = child.parent.as_ref().map_or(0, |p| p.task_id);
    let failure = Failure::fatal(
        failure_types::INSTANCE_EXISTS,
        format!(
            "cannot start sub-orchestration `{}`: instance `{}` exists and is {status}",
            child.name, child.instance_id
        ),
    );
    EventKind::SubOrchestrationFailed { task_id, failure }
}

/// The `ExecutionStarted` that an instance created from `instance` begins with.
pub(super) fn execution_started(instance: &NewInstance) -> EventKind {
    EventKind::ExecutionStarted {
        name: instance.name.clone(),
        instance_id: instance.instance_id.clone(),
        execution_id: instance.execution_id.clone(),
        input: instance.input.clone(),
        parent: instance.parent.clone(),
        version: instance.version.clone(),
        trace: instance.trace.clone(),
    }
}
