//! Export and import on SQLite ([`crate::store::transfer`]). Export runs on the reader
//! thread in one read transaction (one snapshot; the writer goes on), sending each row as it
//! is read. Import runs on the writer thread as one request, so in one transaction: it takes
//! records as they come and writes nothing unless they end with matching counts.

use super::*;
use crate::store::transfer::{
    Cell, Counts, ImportItem, Kind, Record, RecordColumns, cut_short, require_counts, require_empty,
};
use tokio::sync::mpsc as channel;

impl RecordColumns for rusqlite::Row<'_> {
    fn bytes(&self, i: usize) -> rusqlite::Result<Vec<u8>> {
        self.get(i)
    }
}

/// Sends every row to `sink`, from one snapshot.
pub(super) fn export(conn: &Connection, sink: &channel::Sender<Record>) -> StoreResult<Counts> {
    // The reader thread runs each request outside any transaction: take one, so every table
    // is read from the same snapshot. (An in-memory store reads on its writer, inside the
    // writer's transaction, which is one snapshot already.)
    let own = conn.is_autocommit();
    if own {
        conn.execute_batch("BEGIN")?;
    }
    let sent = send_rows(conn, sink);
    if own {
        // Read only: ending it can lose nothing.
        let _ = conn.execute_batch("COMMIT");
    }
    sent
}

fn send_rows(conn: &Connection, sink: &channel::Sender<Record>) -> StoreResult<Counts> {
    let mut counts = Counts::default();
    for kind in Kind::ALL {
        let mut stmt = conn.prepare(&kind.select_sql())?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let record = Record::from_row(kind, row)?;
            sink.blocking_send(record)
                .map_err(|_| StoreError::Backend("the export's receiver went away".into()))?;
            counts.add(kind);
        }
    }
    Ok(counts)
}

/// Writes what `source` sends, inside the caller's transaction; an error rolls it all back.
pub(super) fn import(
    conn: &Connection,
    mut source: channel::Receiver<ImportItem>,
) -> StoreResult<Counts> {
    require_empty(&count(conn)?)?;
    loop {
        match source.blocking_recv() {
            Some(ImportItem::Record(record)) => {
                let values = record.cells.into_iter().map(value);
                conn.prepare_cached(&record.kind.insert_sql(&sqlite_mark))?
                    .execute(rusqlite::params_from_iter(values))?;
            }
            Some(ImportItem::End(expected)) => {
                let found = count(conn)?;
                require_counts(&expected, &found)?;
                return Ok(found);
            }
            None => return Err(cut_short()),
        }
    }
}

/// How many rows each table holds.
fn count(conn: &Connection) -> StoreResult<Counts> {
    let mut counts = Counts::default();
    for kind in Kind::ALL {
        let n: i64 = conn.query_row(&kind.count_sql(), [], |r| r.get(0))?;
        counts.set(kind, n as u64);
    }
    Ok(counts)
}

/// A cell as SQLite binds it.
fn value(cell: Cell) -> rusqlite::types::Value {
    use rusqlite::types::Value;
    match cell {
        Cell::Null => Value::Null,
        Cell::Text(text) => Value::Text(text),
        Cell::Int(n) => Value::Integer(n),
        Cell::Bytes(bytes) => Value::Blob(bytes),
    }
}
