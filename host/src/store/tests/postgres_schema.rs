//! The PostgreSQL side of the suite: every test gets a schema of its own on the server that
//! `DURABLE_TEST_POSTGRES` names (`postgres://user@host:port/database`), so tests run in
//! parallel on one database; the schema is dropped when the test ends, passed or failed.

use crate::store::PostgresStore;
use std::sync::atomic::{AtomicU64, Ordering};

/// The variable naming the test server.
const URL_VARIABLE: &str = "DURABLE_TEST_POSTGRES";

/// A store in a fresh schema, dropped with it.
pub(super) struct Schema {
    /// The store, its tables in the schema.
    pub(super) store: PostgresStore,
    url: String,
    name: String,
}

impl Schema {
    /// Creates a schema no other test uses and opens a store in it.
    pub(super) async fn new() -> Schema {
        let url = std::env::var(URL_VARIABLE).unwrap_or_else(|_| {
            panic!(
                "the PostgreSQL storage tests need a server: set {URL_VARIABLE}, e.g. \
                 {URL_VARIABLE}=postgres://postgres@127.0.0.1:5432/test (or build without the \
                 `postgres-tests` feature)"
            )
        });
        static COUNT: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let name = format!(
            "durable_test_{}_{nanos:x}_{}",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::Relaxed)
        );
        let store = PostgresStore::connect_in_schema(&url, Some(&name))
            .await
            .unwrap_or_else(|e| panic!("connecting to {url} ({URL_VARIABLE}): {e}"));
        Schema { store, url, name }
    }
}

impl Drop for Schema {
    /// Drops the schema on a connection of its own (on a thread of its own: a test's runtime
    /// may be unwinding from a panic).
    fn drop(&mut self) {
        let (url, name) = (self.url.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime to drop the test schema");
            runtime.block_on(async {
                let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                    .await
                    .map_err(|e| e.to_string())?;
                tokio::spawn(connection);
                client
                    .batch_execute(&format!(
                        // A connection left in a transaction by a failed test must not
                        // hang the drop.
                        "SET lock_timeout = '10s'; DROP SCHEMA IF EXISTS {name} CASCADE"
                    ))
                    .await
                    .map_err(|e| e.to_string())
            })
        })
        .join();
        if let Ok(Err(e)) | Err(e) = dropped.map_err(|_| "panicked".to_owned()) {
            eprintln!("could not drop the test schema {}: {e}", self.name);
        }
    }
}
