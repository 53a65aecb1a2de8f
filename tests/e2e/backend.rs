//! Which database the end-to-end tests run on. By default a SQLite file in the test's temporary
//! directory; with `DURABLE_E2E_BACKEND=postgres`, a fresh database on the PostgreSQL server
//! that `DURABLE_TEST_POSTGRES` names (`postgres://user@host:port/database`), created for the
//! test and dropped when it ends, passed or failed. The same tests run on both
//! (`scripts/test.sh` runs the storage modules again on PostgreSQL); a test that reads the
//! SQLite file itself ([`TestDb::file`]) fails on PostgreSQL, saying so.

use durable_host::store::{Durability, PostgresStore, SqliteStore, Store};
use std::ffi::OsStr;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

/// The variable choosing the backend: `sqlite` (or unset) or `postgres`.
const BACKEND_VARIABLE: &str = "DURABLE_E2E_BACKEND";
/// The variable naming the PostgreSQL server (as for the storage suite).
const URL_VARIABLE: &str = "DURABLE_TEST_POSTGRES";

/// The backend of this test run, from [`BACKEND_VARIABLE`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    /// The server's URL, from [`URL_VARIABLE`].
    Postgres(String),
}

/// The backend this test process runs on; an unknown value, or `postgres` without a server,
/// fails every test that asks.
pub fn backend() -> &'static Backend {
    static BACKEND: OnceLock<Backend> = OnceLock::new();
    BACKEND.get_or_init(|| match std::env::var(BACKEND_VARIABLE).as_deref() {
        Err(_) | Ok("" | "sqlite") => Backend::Sqlite,
        Ok("postgres") => Backend::Postgres(std::env::var(URL_VARIABLE).unwrap_or_else(|_| {
            panic!(
                "{BACKEND_VARIABLE}=postgres needs a server: set {URL_VARIABLE}, e.g. \
                 {URL_VARIABLE}=postgres://postgres@127.0.0.1:5432/test"
            )
        })),
        Ok(other) => panic!("{BACKEND_VARIABLE}={other}: expected `sqlite` or `postgres`"),
    })
}

/// One test's database, dropped with it (a PostgreSQL database) or with its directory (a
/// SQLite file).
pub struct TestDb {
    /// What `--db` names: the SQLite file, or the PostgreSQL database's URL.
    arg: PathBuf,
    /// The PostgreSQL database's name and the server it was created on.
    postgres: Option<(String, String)>,
}

impl TestDb {
    /// `<dir>/durable.db`, or a fresh PostgreSQL database.
    pub fn new(dir: &Path) -> TestDb {
        match backend() {
            Backend::Sqlite => TestDb {
                arg: dir.join("durable.db"),
                postgres: None,
            },
            Backend::Postgres(server) => TestDb::postgres(server),
        }
    }

    /// A fresh database on the PostgreSQL server at `server`, whatever the backend.
    pub fn postgres(server: &str) -> TestDb {
        static COUNT: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            "durable_e2e_{}_{}",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::Relaxed)
        );
        let created = format!("CREATE DATABASE {name}");
        on_pg_runtime(admin(server.to_owned(), created))
            .unwrap_or_else(|e| panic!("creating the test database on {server}: {e}"));
        TestDb {
            arg: with_database(server, &name).into(),
            postgres: Some((name, server.to_owned())),
        }
    }

    /// What `durable --db` gets.
    pub fn arg(&self) -> &OsStr {
        self.arg.as_os_str()
    }

    /// The SQLite file, for the tests that read it (not run on PostgreSQL).
    #[track_caller]
    pub fn file(&self) -> &Path {
        assert!(
            self.postgres.is_none(),
            "this test reads the SQLite file: it cannot run on PostgreSQL"
        );
        &self.arg
    }

    /// A new handle on the database, as another process would open.
    pub fn store(&self) -> Arc<dyn Store> {
        match &self.postgres {
            None => Arc::new(SqliteStore::open(&self.arg, Durability::Normal).expect("opening")),
            Some(_) => {
                let url = self.arg.to_string_lossy().into_owned();
                let store = on_pg_runtime(async move { PostgresStore::connect(&url).await })
                    .expect("connecting to the test database");
                Arc::new(store)
            }
        }
    }

    /// How many rows of `table` belong to the instance: what the store has no query for,
    /// because the engine never needs one (`inbox`, `activities`).
    pub fn rows_of_instance(&self, table: &str, instance_id: &str) -> i64 {
        let sql = format!("SELECT COUNT(*) FROM {table} WHERE instance_id = $1");
        match &self.postgres {
            None => {
                let db = rusqlite::Connection::open(&self.arg).expect("opening the file");
                db.query_row(&sql, [instance_id], |r| r.get(0))
                    .expect("counting")
            }
            Some(_) => {
                let (url, id) = (
                    self.arg.to_string_lossy().into_owned(),
                    instance_id.to_owned(),
                );
                on_pg_runtime(async move {
                    let client = connect(&url).await?;
                    let row = client.query_one(&sql, &[&id]).await?;
                    row.try_get::<_, i64>(0)
                })
                .expect("counting")
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((name, server)) = self.postgres.take() {
            // The hosts and `durable` processes of the test may still hold connections.
            let dropped = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
            if let Err(e) = on_pg_runtime(admin(server, dropped)) {
                eprintln!("could not drop the test database {name}: {e}");
            }
        }
    }
}

/// `server`'s URL with its database replaced by `database`.
fn with_database(server: &str, database: &str) -> String {
    let (base, query) = match server.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (server, String::new()),
    };
    let authority = base.find("://").map_or(0, |i| i + 3);
    let end = base[authority..]
        .find('/')
        .map_or(base.len(), |i| authority + i);
    format!("{}/{database}{query}", &base[..end])
}

/// A connection of its own, its task on the current runtime.
async fn connect(url: &str) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

/// Runs `sql` on the server's own database (`CREATE DATABASE` cannot run in the test's).
async fn admin(server: String, sql: String) -> Result<(), tokio_postgres::Error> {
    connect(&server).await?.batch_execute(&sql).await
}

/// Runs `work` to the end on a runtime of the harness's own that outlives every test, from
/// synchronous code inside a test's runtime or outside any: the connection tasks it spawns
/// (a store's first pooled connection) live as long as the process, not the caller's runtime.
fn on_pg_runtime<T: Send + 'static>(work: impl Future<Output = T> + Send + 'static) -> T {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    let runtime = RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("the harness's PostgreSQL runtime")
    });
    let (done, result) = std::sync::mpsc::channel();
    runtime.spawn(async move {
        let _ = done.send(work.await);
    });
    result.recv().expect("the PostgreSQL work panicked")
}

#[test]
fn a_database_replaces_the_one_in_the_server_url() {
    let cases = [
        ("postgres://u@h:5432/test", "postgres://u@h:5432/d"),
        ("postgres://u@h:5432", "postgres://u@h:5432/d"),
        (
            "postgresql://u:p@h/x?sslmode=disable",
            "postgresql://u:p@h/d?sslmode=disable",
        ),
    ];
    for (server, expected) in cases {
        assert_eq!(with_database(server, "d"), expected, "{server}");
    }
}
