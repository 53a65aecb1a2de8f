//! Which database the end-to-end tests run on. By default a SQLite file in the test's temporary
//! directory; with `DURABLE_E2E_BACKEND=postgres`, a fresh database on the PostgreSQL server
//! that `DURABLE_TEST_POSTGRES` names (`postgres://user@host:port/database`), created for the
//! test and dropped when it ends, passed or failed. The same tests run on both
//! (`scripts/test.sh` runs the storage modules again on PostgreSQL); a test that reads the
//! SQLite file itself ([`TestDb::file`]) fails on PostgreSQL, saying so.

use durable_host::store::{
    Durability, PostgresStore, ScratchDatabase, SqliteStore, Store, StoreError, postgres_client,
};
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
    /// The PostgreSQL database, when the test has one.
    postgres: Option<ScratchDatabase>,
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
        let (server, created) = (server.to_owned(), name.clone());
        let database =
            on_pg_runtime(async move { ScratchDatabase::create(&server, &created).await })
                .unwrap_or_else(|e| panic!("creating the test database {name}: {e}"));
        TestDb {
            arg: database.url().into(),
            postgres: Some(database),
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
                    let client = postgres_client(&url).await?;
                    let row = client.query_one(&sql, &[&id]).await?;
                    Ok::<i64, StoreError>(row.try_get::<_, i64>(0)?)
                })
                .expect("counting")
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(database) = self.postgres.take() {
            // The hosts and `durable` processes of the test may still hold connections.
            let name = database.name().to_owned();
            if let Err(e) = on_pg_runtime(database.drop_database()) {
                eprintln!("could not drop the test database {name}: {e}");
            }
        }
    }
}

/// Runs `sql` (one or more statements) in the database at `url`.
pub fn postgres_execute(url: &str, sql: &str) {
    let (owned_url, owned_sql) = (url.to_owned(), sql.to_owned());
    let result = on_pg_runtime(async move {
        let client = postgres_client(&owned_url).await?;
        client
            .batch_execute(&owned_sql)
            .await
            .map_err(StoreError::from)
    });
    if let Err(e) = result {
        panic!("running `{sql}` on the test server: {e}");
    }
}

/// The first column of the first row of `sql` in the database at `url`: a count or a version.
pub fn postgres_query_i64(url: &str, sql: &str) -> i64 {
    let (owned_url, owned_sql) = (url.to_owned(), sql.to_owned());
    on_pg_runtime(async move {
        let client = postgres_client(&owned_url).await?;
        let row = client.query_one(&owned_sql, &[]).await?;
        Ok::<i64, StoreError>(row.try_get(0)?)
    })
    .unwrap_or_else(|e| panic!("running `{sql}` on the test server: {e}"))
}

/// The databases on the server at `server` whose names are `LIKE` `pattern`.
pub fn databases_named_like(server: &str, pattern: &str) -> Vec<String> {
    let (server, pattern) = (server.to_owned(), pattern.to_owned());
    on_pg_runtime(async move {
        let client = postgres_client(&server).await?;
        let rows = client
            .query(
                "SELECT datname FROM pg_database WHERE datname LIKE $1 ORDER BY datname",
                &[&pattern],
            )
            .await?;
        rows.iter()
            .map(|row| Ok(row.try_get::<_, String>(0)?))
            .collect::<Result<Vec<String>, StoreError>>()
    })
    .expect("listing the server's databases")
}

/// A PostgreSQL server of one test's own (`scripts/private-postgres.sh` on a directory under
/// `target/`), for a test that restarts it; stopped and removed when dropped.
pub struct PrivatePostgres {
    dir: PathBuf,
    /// The server's URL (its database `test`).
    pub url: String,
}

impl PrivatePostgres {
    /// Starts a server named `name` (a directory under `target/`).
    pub fn start(name: &str) -> PrivatePostgres {
        let dir = crate::support::workspace_root()
            .join("target")
            .join(format!("pg-{name}-{}", std::process::id()));
        let out = Self::script(&dir, "start");
        let url = out
            .trim()
            .strip_prefix("export DURABLE_TEST_POSTGRES=")
            .unwrap_or_else(|| panic!("private-postgres.sh start printed {out:?}"))
            .to_owned();
        PrivatePostgres { dir, url }
    }

    /// `pg_ctl restart -m fast`: every connection is cut; returns when the server is back.
    pub fn restart(&self) {
        Self::script(&self.dir, "restart");
    }

    /// Runs `scripts/private-postgres.sh <command>` on the cluster in `dir`; its stdout.
    fn script(dir: &Path, command: &str) -> String {
        let out = Self::run_script(dir, command).expect("running scripts/private-postgres.sh");
        assert!(
            out.status.success(),
            "private-postgres.sh {command} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn run_script(dir: &Path, command: &str) -> std::io::Result<std::process::Output> {
        std::process::Command::new(
            crate::support::workspace_root().join("scripts/private-postgres.sh"),
        )
        .arg(command)
        .env("DURABLE_PRIVATE_POSTGRES_DIR", dir)
        .stdin(std::process::Stdio::null())
        .output()
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        // (No assertion: this may run while a failed test unwinds.)
        if let Ok(out) = Self::run_script(&self.dir, "stop")
            && !out.status.success()
        {
            eprintln!(
                "could not stop the private PostgreSQL server in {}: {}",
                self.dir.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
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
