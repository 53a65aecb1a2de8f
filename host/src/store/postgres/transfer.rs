//! Export and import on PostgreSQL ([`crate::store::transfer`]). Export reads every table in
//! one `REPEATABLE READ` read-only transaction (one snapshot; writers go on), through a portal
//! fetched a page at a time, so a table never sits in memory whole. Import writes in one
//! transaction that holds the tables against other writers, a batch of rows of one kind per
//! statement, and commits only if the records end with matching counts.

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
        inserts.insert(kind, tx.prepare(&insert_many_sql(kind)).await?);
    }
    // Rows of one kind go in together, one statement a batch: a round trip per row would
    // make a large import slow.
    let mut batch: Vec<Record> = Vec::new();
    loop {
        match source.recv().await {
            Some(ImportItem::Record(record)) => {
                let other_kind = batch.first().is_some_and(|first| first.kind != record.kind);
                if other_kind || batch.len() >= BATCH {
                    insert_many(tx, &inserts, std::mem::take(&mut batch)).await?;
                }
                batch.push(record);
            }
            Some(ImportItem::End(expected)) => {
                insert_many(tx, &inserts, batch).await?;
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

/// Records written by one statement at most.
const BATCH: usize = 500;

/// The statement inserting rows of `kind` from one array per column, in array order (which
/// is the order the table's ids are given in).
fn insert_many_sql(kind: Kind) -> String {
    let columns = kind.columns();
    let names: Vec<&str> = columns.iter().map(|(name, _)| *name).collect();
    let aliases: Vec<String> = (1..=columns.len()).map(|i| format!("c{i}")).collect();
    let arrays: Vec<String> = columns
        .iter()
        .enumerate()
        .map(|(i, (_, column))| {
            let sql_type = match column {
                ColumnType::Text | ColumnType::OptText => "TEXT",
                ColumnType::Int | ColumnType::OptInt => "BIGINT",
                ColumnType::Bytes => "BYTEA",
            };
            format!("${}::{sql_type}[]", i + 1)
        })
        .collect();
    format!(
        "INSERT INTO {} ({}) SELECT {} FROM unnest({}) WITH ORDINALITY AS r({}, n) ORDER BY n",
        kind.table(),
        names.join(", "),
        aliases.join(", "),
        arrays.join(", "),
        aliases.join(", ")
    )
}

/// One column's values of a batch.
enum Values {
    Text(Vec<Option<String>>),
    Int(Vec<Option<i64>>),
    Bytes(Vec<Option<Vec<u8>>>),
}

/// Writes `records` (all of one kind) with one statement of `inserts`.
async fn insert_many(
    tx: &Transaction<'_>,
    inserts: &HashMap<Kind, tokio_postgres::Statement>,
    records: Vec<Record>,
) -> StoreResult<()> {
    let Some(kind) = records.first().map(|record| record.kind) else {
        return Ok(());
    };
    let mut columns: Vec<Values> = kind
        .columns()
        .iter()
        .map(|(_, column)| match column {
            ColumnType::Text | ColumnType::OptText => Values::Text(Vec::new()),
            ColumnType::Int | ColumnType::OptInt => Values::Int(Vec::new()),
            ColumnType::Bytes => Values::Bytes(Vec::new()),
        })
        .collect();
    for record in records {
        for (values, cell) in columns.iter_mut().zip(record.cells) {
            match (values, cell) {
                (Values::Text(v), Cell::Text(text)) => v.push(Some(text)),
                (Values::Int(v), Cell::Int(n)) => v.push(Some(n)),
                (Values::Bytes(v), Cell::Bytes(bytes)) => v.push(Some(bytes)),
                (Values::Text(v), Cell::Null) => v.push(None),
                (Values::Int(v), Cell::Null) => v.push(None),
                (Values::Bytes(v), Cell::Null) => v.push(None),
                (_, cell) => {
                    return Err(StoreError::Corrupt(format!(
                        "a {} record has {cell:?} where its column takes another type",
                        kind.name()
                    )));
                }
            }
        }
    }
    let params: Vec<Box<dyn ToSql + Sync + Send>> = columns
        .into_iter()
        .map(|values| -> Box<dyn ToSql + Sync + Send> {
            match values {
                Values::Text(v) => Box::new(v),
                Values::Int(v) => Box::new(v),
                Values::Bytes(v) => Box::new(v),
            }
        })
        .collect();
    tx.execute(&inserts[&kind], &borrowed(&params)).await?;
    Ok(())
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
