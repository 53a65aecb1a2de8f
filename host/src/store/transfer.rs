//! Copying everything a store holds into another store, of the same backend or another
//! (`durable export` and `durable import`).
//!
//! Every row of every table becomes a [`Record`]: its [`Kind`] (which table) and its cells,
//! in the order [`Kind::columns`] lists them. Both backends have the same tables with the same
//! columns, so a record is the row itself and goes into either. What a record leaves out:
//! leases (`lock_token`, `lock_expires`: a copy starts with every item unlocked, as after a
//! restart) and the ids of inbox, activity, log and entity inbox rows. Those ids mean nothing
//! outside the store (a turn names the messages it consumed by the ids it was given when it
//! locked them; timers are cancelled by instance and timer id), so the target numbers the rows
//! afresh. It numbers them in the order they come, and [`Store::export`] sends them in id
//! order, so what was sent first is still first.
//!
//! [`Store::export`] reads one consistent snapshot and streams it; [`Store::import`] writes a
//! stream into an empty store in one transaction, committed only when the stream ends with an
//! [`ImportItem::End`] whose counts match what was written. The file format around the records
//! is the CLI's (`cli/transfer.rs`).

use super::{StoreError, StoreResult};
use serde::{Deserialize, Serialize};

/// The table a record comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// `components`: a component's bytes, catalogue, deployment time and deploy order.
    Component,
    /// `instances`: an instance's row, with its history length (no lease).
    Instance,
    /// `history`: one event of an instance's current execution.
    History,
    /// `inbox`: a message waiting for an instance, timers included.
    Inbox,
    /// `activities`: a queued activity task, with its attempt count (no lease).
    Activity,
    /// `logs`: a guest log line.
    Log,
    /// `entities`: an entity's state, last operation time and critical-section holder (no
    /// lease).
    Entity,
    /// `entity_inbox`: an operation waiting for an entity.
    EntityMessage,
}

/// How a column is stored, and so how a cell of it is read, bound and written in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    /// Text, never NULL.
    Text,
    /// Text or NULL.
    OptText,
    /// A 64-bit integer, never NULL.
    Int,
    /// A 64-bit integer or NULL.
    OptInt,
    /// Bytes (a component); base64 in the file.
    Bytes,
}

/// One column of a table: its name and type.
pub type Column = (&'static str, ColumnType);

use ColumnType::*;

const COMPONENT: &[Column] = &[
    ("digest", Text),
    ("bytes", Bytes),
    ("catalogue", Text),
    ("deployed_at", Int),
    ("deploy_seq", Int),
];
const INSTANCE: &[Column] = &[
    ("instance_id", Text),
    ("name", Text),
    ("execution_id", Text),
    ("digest", Text),
    ("status", Text),
    ("input", Text),
    ("output", OptText),
    ("failure", OptText),
    ("custom_status", OptText),
    ("parent", OptText),
    ("parent_id", OptText),
    ("created_at", Int),
    ("updated_at", Int),
    ("completed_at", OptInt),
    ("history_len", Int),
];
const HISTORY: &[Column] = &[("instance_id", Text), ("position", Int), ("event", Text)];
const INBOX: &[Column] = &[
    ("instance_id", Text),
    ("execution_id", OptText),
    ("timer_id", OptInt),
    ("kind", Text),
    ("event", Text),
    ("visible_at", Int),
];
const ACTIVITY: &[Column] = &[
    ("instance_id", Text),
    ("execution_id", Text),
    ("task_id", Int),
    ("name", Text),
    ("input", Text),
    ("digest", Text),
    ("attempt", Int),
    ("visible_at", Int),
];
const LOG: &[Column] = &[
    ("instance_id", Text),
    ("timestamp", Int),
    ("level", Text),
    ("message", Text),
];
const ENTITY: &[Column] = &[
    ("name", Text),
    ("key", Text),
    ("state", OptText),
    ("last_operation_at", Int),
    ("locked_by", OptText),
];
const ENTITY_MESSAGE: &[Column] = &[
    ("name", Text),
    ("key", Text),
    ("operation", Text),
    ("input", Text),
    ("caller", OptText),
    ("caller_id", OptText),
    ("visible_at", Int),
];

impl Kind {
    /// Every kind, in the order they are exported and imported.
    pub const ALL: [Kind; 8] = [
        Kind::Component,
        Kind::Instance,
        Kind::History,
        Kind::Inbox,
        Kind::Activity,
        Kind::Log,
        Kind::Entity,
        Kind::EntityMessage,
    ];

    /// Its name in the file.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Component => "component",
            Kind::Instance => "instance",
            Kind::History => "history",
            Kind::Inbox => "inbox",
            Kind::Activity => "activity",
            Kind::Log => "log",
            Kind::Entity => "entity",
            Kind::EntityMessage => "entity_message",
        }
    }

    /// The kind named `name` in the file.
    pub fn parse(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|kind| kind.name() == name)
    }

    /// The table its rows live in.
    pub fn table(self) -> &'static str {
        match self {
            Kind::Component => "components",
            Kind::Instance => "instances",
            Kind::History => "history",
            Kind::Inbox => "inbox",
            Kind::Activity => "activities",
            Kind::Log => "logs",
            Kind::Entity => "entities",
            Kind::EntityMessage => "entity_inbox",
        }
    }

    /// The columns a record holds, in order.
    pub fn columns(self) -> &'static [Column] {
        match self {
            Kind::Component => COMPONENT,
            Kind::Instance => INSTANCE,
            Kind::History => HISTORY,
            Kind::Inbox => INBOX,
            Kind::Activity => ACTIVITY,
            Kind::Log => LOG,
            Kind::Entity => ENTITY,
            Kind::EntityMessage => ENTITY_MESSAGE,
        }
    }

    /// The order rows are exported in: deploy order, keys, or the order they were written
    /// (ids), which the importing store keeps by numbering them as they come.
    fn order_by(self) -> &'static str {
        match self {
            Kind::Component => "deploy_seq",
            Kind::Instance => "instance_id",
            Kind::History => "instance_id, position",
            Kind::Entity => "name, key",
            Kind::Inbox | Kind::Activity | Kind::Log | Kind::EntityMessage => "id",
        }
    }

    /// The query reading every row of the table as records, in export order.
    pub(super) fn select_sql(self) -> String {
        let columns: Vec<&str> = self.columns().iter().map(|(name, _)| *name).collect();
        format!(
            "SELECT {} FROM {} ORDER BY {}",
            columns.join(", "),
            self.table(),
            self.order_by()
        )
    }

    /// The statement inserting one record; `mark(n)` writes the `n`th parameter (from 1).
    pub(super) fn insert_sql(self, mark: &dyn Fn(usize) -> String) -> String {
        let columns: Vec<&str> = self.columns().iter().map(|(name, _)| *name).collect();
        let marks: Vec<String> = (1..=columns.len()).map(mark).collect();
        format!(
            "INSERT INTO {} ({}) VALUES ({})",
            self.table(),
            columns.join(", "),
            marks.join(", ")
        )
    }

    /// The query counting the table's rows.
    pub(super) fn count_sql(self) -> String {
        format!("SELECT COUNT(*) FROM {}", self.table())
    }
}

/// One value of a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cell {
    /// NULL (only in `OptText` and `OptInt` columns).
    Null,
    /// Text.
    Text(String),
    /// A 64-bit integer.
    Int(i64),
    /// Bytes.
    Bytes(Vec<u8>),
}

/// The key naming a record's kind in its JSON object.
const TAG: &str = "record";

/// One row of one table, backend-neutral.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The table it comes from.
    pub kind: Kind,
    /// Its values, in the order of [`Kind::columns`].
    pub cells: Vec<Cell>,
}

/// Reads a result row's columns by position, as each driver does (the shared
/// [`super::rows::Columns`] with bytes).
pub(super) trait RecordColumns: super::rows::Columns {
    /// A bytes column.
    fn bytes(&self, i: usize) -> Result<Vec<u8>, Self::Error>;
}

impl Record {
    /// The record of `kind` in a row of [`Kind::select_sql`].
    pub(super) fn from_row<R: RecordColumns + ?Sized>(
        kind: Kind,
        row: &R,
    ) -> Result<Record, R::Error> {
        let mut cells = Vec::with_capacity(kind.columns().len());
        for (i, (_, column)) in kind.columns().iter().enumerate() {
            cells.push(match column {
                Text => Cell::Text(row.text(i)?),
                OptText => row.opt_text(i)?.map_or(Cell::Null, Cell::Text),
                Int => Cell::Int(row.int(i)?),
                OptInt => row.opt_int(i)?.map_or(Cell::Null, Cell::Int),
                Bytes => Cell::Bytes(row.bytes(i)?),
            });
        }
        Ok(Record { kind, cells })
    }

    /// The record as one line of JSON (without the newline): an object with `record` (the
    /// kind's name; no column has that name, while the inbox has a column `kind`) first, then
    /// each column by name in table order; bytes in base64.
    pub fn to_json_line(&self) -> String {
        use base64::Engine as _;
        let mut line = format!("{{\"{TAG}\":\"{}\"", self.kind.name());
        for ((name, _), cell) in self.kind.columns().iter().zip(&self.cells) {
            let value = match cell {
                Cell::Null => serde_json::Value::Null,
                Cell::Text(text) => text.as_str().into(),
                Cell::Int(n) => (*n).into(),
                Cell::Bytes(bytes) => base64::engine::general_purpose::STANDARD
                    .encode(bytes)
                    .into(),
            };
            line.push_str(&format!(",\"{name}\":{value}"));
        }
        line.push('}');
        line
    }

    /// The record a JSON object of [`Record::to_json_line`] holds; every column must be there with
    /// a value of its type, and nothing else.
    pub fn from_json(value: serde_json::Value) -> Result<Record, String> {
        use base64::Engine as _;
        let serde_json::Value::Object(mut object) = value else {
            return Err("a record must be a JSON object".into());
        };
        let kind = match object.remove(TAG) {
            Some(serde_json::Value::String(name)) => {
                Kind::parse(&name).ok_or_else(|| format!("unknown record kind `{name}`"))?
            }
            _ => return Err(format!("a record needs a `{TAG}`")),
        };
        let mut cells = Vec::with_capacity(kind.columns().len());
        for (name, column) in kind.columns() {
            let value = object.remove(*name).unwrap_or_default();
            let cell = match (column, value) {
                (OptText | OptInt, serde_json::Value::Null) => Cell::Null,
                (Text | OptText, serde_json::Value::String(text)) => Cell::Text(text),
                (Int | OptInt, serde_json::Value::Number(n)) if n.is_i64() => {
                    Cell::Int(n.as_i64().unwrap_or_default())
                }
                (Bytes, serde_json::Value::String(text)) => Cell::Bytes(
                    base64::engine::general_purpose::STANDARD
                        .decode(text)
                        .map_err(|e| format!("{} `{name}` is not base64: {e}", kind.name()))?,
                ),
                (_, value) => {
                    return Err(format!(
                        "{} `{name}` should be {column:?}, not `{value}`",
                        kind.name()
                    ));
                }
            };
            cells.push(cell);
        }
        if let Some(extra) = object.keys().next() {
            return Err(format!("{} has an unknown column `{extra}`", kind.name()));
        }
        Ok(Record { kind, cells })
    }
}

/// How many records of each kind: sent, written, or found in a store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Counts {
    /// Components.
    pub component: u64,
    /// Instances.
    pub instance: u64,
    /// History events.
    pub history: u64,
    /// Inbox messages (timers included).
    pub inbox: u64,
    /// Activity tasks.
    pub activity: u64,
    /// Log lines.
    pub log: u64,
    /// Entities.
    pub entity: u64,
    /// Entity inbox messages.
    pub entity_message: u64,
}

impl Counts {
    fn slot(&mut self, kind: Kind) -> &mut u64 {
        match kind {
            Kind::Component => &mut self.component,
            Kind::Instance => &mut self.instance,
            Kind::History => &mut self.history,
            Kind::Inbox => &mut self.inbox,
            Kind::Activity => &mut self.activity,
            Kind::Log => &mut self.log,
            Kind::Entity => &mut self.entity,
            Kind::EntityMessage => &mut self.entity_message,
        }
    }

    /// How many of `kind`.
    pub fn get(&self, kind: Kind) -> u64 {
        let mut counts = *self;
        *counts.slot(kind)
    }

    /// Counts one more of `kind`.
    pub fn add(&mut self, kind: Kind) {
        *self.slot(kind) += 1;
    }

    /// Sets the count of `kind`.
    pub fn set(&mut self, kind: Kind, n: u64) {
        *self.slot(kind) = n;
    }

    /// All records counted.
    pub fn total(&self) -> u64 {
        Kind::ALL.iter().map(|kind| self.get(*kind)).sum()
    }
}

impl std::fmt::Display for Counts {
    /// `component=2 instance=3 ...`: every kind with its count.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = Kind::ALL
            .iter()
            .map(|kind| format!("{}={}", kind.name(), self.get(*kind)))
            .collect();
        f.write_str(&parts.join(" "))
    }
}

/// What [`Store::import`](super::Store::import) receives.
#[derive(Debug, Clone)]
pub enum ImportItem {
    /// A record to write.
    Record(Record),
    /// The end of the records, with how many of each kind were sent: the import commits if the
    /// store then holds exactly these.
    End(Counts),
}

/// Refuses to import into a store that holds anything (`found`: its counts).
pub(super) fn require_empty(found: &Counts) -> StoreResult<()> {
    if found.total() == 0 {
        return Ok(());
    }
    Err(StoreError::ImportRefused(format!(
        "the target database is not empty ({found}); import into a new database"
    )))
}

/// Checks the store holds what the import was told it sent (`expected`) once everything was
/// written (`found`, counted in the import's transaction).
pub(super) fn require_counts(expected: &Counts, found: &Counts) -> StoreResult<()> {
    if expected == found {
        return Ok(());
    }
    Err(StoreError::ImportRefused(format!(
        "the records do not add up: the export counted {expected}, the import wrote {found}; \
         nothing was written"
    )))
}

/// Why an import stopped when its records ended without [`ImportItem::End`].
pub(super) fn cut_short() -> StoreError {
    StoreError::ImportRefused("the records ended before their end mark; nothing was written".into())
}
