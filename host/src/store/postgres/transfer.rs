//! Export and import on PostgreSQL ([`crate::store::transfer`]). Export reads every table in
//! one `REPEATABLE READ` read-only transaction (one snapshot; writers go on), through a portal
//! fetched a page at a time, so a table never sits in memory whole. Import writes in one
//! transaction that holds the tables against other writers, and commits only if the records
//! end with matching counts.

use super::*;
use crate::store::transfer::{
    Cell, ColumnType, Counts, ImportItem, Kind, Record, RecordColumns, cut_short, require_counts,
    require_empty,
};
use tokio::sync::mpsc as channel;
use tokio_postgres::IsolationLevel;

/// Rows fetched from the server at a time.
const PAGE: i32 = 256;

impl RecordColumns for Row {
    fn bytes(&self, i: usize) -> Result<Vec<u8>, Self::Error> {
        self.try_get(i)
    }
}

/// Sends every row to `sink`, from one snapshot.
pub(super) async fn export(
    client: &mut deadpool_postgres::Object,
    sink: &channel::Sender<Record>,
) -> StoreResult<Counts> {
    let tx = client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await?;
    let mut counts = Counts::default();
    for kind in Kind::ALL {
        let portal = tx.bind(&kind.select_sql(), &[]).await?;
        loop {
            let rows = tx.query_portal(&portal, PAGE).await?;
            for row in &rows {
                sink.send(Record::from_row(kind, row)?)
                    .await
                    .map_err(|_| StoreError::Backend("the export's receiver went away".into()))?;
                counts.add(kind);
            }
            if rows.len() < PAGE as usize {
                break;
            }
        }
    }
    tx.commit().await?;
    Ok(counts)
}

/// Writes what `source` sends inside `tx`; an error rolls it all back.
pub(super) async fn import(
    tx: &Transaction<'_>,
    source: &mut channel::Receiver<ImportItem>,
) -> StoreResult<Counts> {
    // No one else writes until this commits, so the store stays empty but for this import.
    let tables: Vec<&str> = Kind::ALL.iter().map(|kind| kind.table()).collect();
    tx.batch_execute(&format!(
        "LOCK TABLE {} IN EXCLUSIVE MODE",
        tables.join(", ")
    ))
    .await?;
    require_empty(&count(tx).await?)?;
    let mut inserts = HashMap::new();
    for kind in Kind::ALL {
        inserts.insert(kind, tx.prepare(&kind.insert_sql(&pg_mark)).await?);
    }
    loop {
        match source.recv().await {
            Some(ImportItem::Record(record)) => {
                let columns = record.kind.columns().iter();
                let values: Vec<_> = columns
                    .zip(record.cells)
                    .map(|(column, cell)| value(cell, column.1))
                    .collect();
                tx.execute(&inserts[&record.kind], &borrowed(&values))
                    .await?;
            }
            Some(ImportItem::End(expected)) => {
                // Deployments made after the import come after the imported ones.
                tx.execute(
                    "SELECT setval('component_deploys', MAX(deploy_seq)) FROM components \
                     HAVING COUNT(*) > 0",
                    &[],
                )
                .await?;
                let found = count(tx).await?;
                require_counts(&expected, &found)?;
                return Ok(found);
            }
            None => return Err(cut_short()),
        }
    }
}

/// How many rows each table holds.
async fn count(tx: &Transaction<'_>) -> StoreResult<Counts> {
    let mut counts = Counts::default();
    for kind in Kind::ALL {
        let n: i64 = tx.query_one(&kind.count_sql(), &[]).await?.try_get(0)?;
        counts.set(kind, n as u64);
    }
    Ok(counts)
}

/// A cell as PostgreSQL binds it: a NULL is typed by its column.
fn value(cell: Cell, column: ColumnType) -> Box<dyn ToSql + Sync + Send> {
    match (cell, column) {
        (Cell::Null, ColumnType::OptInt | ColumnType::Int) => Box::new(None::<i64>),
        (Cell::Null, _) => Box::new(None::<String>),
        (Cell::Text(text), _) => Box::new(text),
        (Cell::Int(n), _) => Box::new(n),
        (Cell::Bytes(bytes), _) => Box::new(bytes),
    }
}
