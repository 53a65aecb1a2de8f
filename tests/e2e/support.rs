//! Helpers shared by the end-to-end tests: the guest components in every language (built
//! once per test run: Rust crates for `wasm32-wasip2` into their own target directory, Python
//! and JavaScript apps by `durable build`), [`per_language!`] to run one test body against
//! each language, and a host on a fresh database driven by a manual clock.

use crate::backend::TestDb;
use durable_host::client::{Client, StartRequest};
use durable_host::clock::ManualClock;
use durable_host::host::{Host, HostConfig, RunningHost, default_compile_cache};
use durable_host::store::{EntityRecord, InstanceRecord, Store};
use durable_host::types::{EventKind, HistoryEvent};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// Workspace members that are not guest components (they link the host). Every other member
/// is built for `wasm32-wasip2`: the workspace's member list is the one list of Rust guests.
pub const NOT_GUESTS: &[&str] = &["durable-host", "embedding"];

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("host/ lives in the workspace root")
        .to_path_buf()
}

/// Builds every Rust guest component once per test process and returns the directory
/// holding the `.wasm` files.
pub fn guest_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let root = workspace_root();
        let target = root.join("target").join("wasm");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.current_dir(&root)
            .args(["build", "--release", "--target", "wasm32-wasip2"])
            .args(["--workspace", "--target-dir"])
            .arg(&target);
        for member in NOT_GUESTS {
            cmd.args(["--exclude", member]);
        }
        for var in [
            "CARGO_ENCODED_RUSTFLAGS",
            "RUSTFLAGS",
            "CARGO_TARGET_DIR",
            "CARGO_BUILD_TARGET",
        ] {
            cmd.env_remove(var);
        }
        let status = cmd
            .status()
            .expect("running cargo to build the guest components");
        assert!(
            status.success(),
            "building the guest components failed (is the wasm32-wasip2 target installed? \
             `rustup target add wasm32-wasip2`)"
        );
        target.join("wasm32-wasip2").join("release")
    })
}

/// The path of a Rust guest component by crate name, e.g. `guest("probe")`.
pub fn guest(name: &str) -> PathBuf {
    guest_dir().join(format!("{}.wasm", name.replace('-', "_")))
}

pub fn guest_bytes(name: &str) -> Vec<u8> {
    read(&guest(name))
}

pub fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// A guest language. The examples and test guests that exist in several languages are found
/// by one name (`hello_sequence`) and built once per test run: Rust crates by cargo
/// ([`guest_dir`]), Python and JavaScript apps by `durable build`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Rust,
    Python,
    JavaScript,
}

impl Lang {
    /// The language a `per_language!` test is named after (`rust`, `python`, `js`).
    pub fn named(name: &str) -> Lang {
        match name {
            "rust" => Lang::Rust,
            "python" => Lang::Python,
            "js" => Lang::JavaScript,
            other => panic!("no guest language `{other}`"),
        }
    }

    /// Example app `name` (`examples/hello-sequence`, `examples/python/hello_sequence`, ...).
    pub fn example(self, name: &str) -> PathBuf {
        match self {
            Lang::Rust => guest(name),
            Lang::Python => self.app(&format!("examples/python/{name}"), name),
            Lang::JavaScript => self.app(&format!("examples/js/{name}"), name),
        }
    }

    /// The guest implementing the conformance orchestrators (`tests/guests/conformance`,
    /// `python-conformance`, `js-conformance`).
    pub fn conformance_guest(self) -> PathBuf {
        match self {
            Lang::Rust => guest("conformance-guest"),
            Lang::Python => self.app("tests/guests/python-conformance", "conformance"),
            Lang::JavaScript => self.app("tests/guests/js-conformance", "conformance"),
        }
    }

    /// A Python or JavaScript app directory (relative to the workspace root), built by
    /// `durable build` into `target/<python|js>/<name>.wasm` once per test process. Fails
    /// loudly when the build (or installing the componentizer) fails: nothing is skipped.
    pub fn app(self, app_dir: &str, name: &str) -> PathBuf {
        type Built = Arc<OnceLock<PathBuf>>;
        static BUILDS: OnceLock<Mutex<HashMap<PathBuf, Built>>> = OnceLock::new();
        let (dir, needs) = match self {
            Lang::Python => (
                "python",
                "the first build installs componentize-py into the tools directory, which needs \
                 python3 with venv and pip, and PyPI",
            ),
            Lang::JavaScript => (
                "js",
                "the first build installs componentize-js and rolldown into the tools \
                 directory, which needs node >= 20 and npm, and the npm registry",
            ),
            Lang::Rust => panic!("Rust guests are crates: use `guest`"),
        };
        let root = workspace_root();
        let out = root.join("target").join(dir).join(format!("{name}.wasm"));
        let cell = BUILDS
            .get_or_init(Mutex::default)
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(out.clone())
            .or_default()
            .clone();
        cell.get_or_init(|| {
            crate::process::build(&root.join(app_dir), &out, needs);
            out.clone()
        })
        .clone()
    }
}

/// One test per guest language for a test body that takes a [`Lang`]:
/// `per_language!(hello_sequence: rust, python, js)` makes the tests `hello_sequence::rust`,
/// `hello_sequence::python` and `hello_sequence::js`, each running `hello_sequence(lang)`
/// (an `async fn`; `per_language!(sync body: ...)` for a plain one).
macro_rules! per_language {
    ($body:ident: $($lang:ident),+ $(,)?) => {
        mod $body {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $lang() {
                    super::$body(crate::support::Lang::named(stringify!($lang))).await
                }
            )+
        }
    };
    (sync $body:ident: $($lang:ident),+ $(,)?) => {
        mod $body {
            $(
                #[test]
                fn $lang() {
                    super::$body(crate::support::Lang::named(stringify!($lang)))
                }
            )+
        }
    };
}
pub(crate) use per_language;

/// Compiled-code cache shared by the tests and the `durable` processes they run: the user's
/// (`~/.cache/durable`, entries named by component digest and host version), so compiled
/// components outlive a fresh clone.
pub fn compile_cache() -> PathBuf {
    default_compile_cache().unwrap_or_else(|| {
        workspace_root()
            .join("target")
            .join("wasm")
            .join("compiled")
    })
}

/// 2026-01-01T00:00:00Z.
pub const START: u64 = 1_767_225_600_000;

/// A host on a fresh database (a SQLite file in a temporary directory, or a PostgreSQL
/// database: [`crate::backend`]), driven by a manual clock, that never polls.
pub struct TestHost {
    pub host: Host,
    pub clock: ManualClock,
    pub store: Arc<dyn Store>,
    running: Option<RunningHost>,
    /// Dropped after the host: the database, then its directory.
    db: TestDb,
    _dir: tempfile::TempDir,
}

impl TestHost {
    pub fn new() -> TestHost {
        TestHost::with_config(|_| {})
    }

    pub fn with_config(change: impl FnOnce(&mut HostConfig)) -> TestHost {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = TestDb::new(dir.path());
        let store = db.store();
        let clock = ManualClock::new(START);
        let mut config = HostConfig {
            compile_cache: Some(compile_cache()),
            // Nothing else writes to this host's database, and its clock is manual: only the
            // engine's own wake-ups move it, so a lost wake-up fails a test (at its bound)
            // instead of passing after a poll.
            poll_interval: Duration::from_secs(86_400),
            ..HostConfig::default()
        };
        change(&mut config);
        let host = Host::new(store.clone(), Arc::new(clock.clone()), config).expect("host");
        TestHost {
            host,
            clock,
            store,
            running: None,
            db,
            _dir: dir,
        }
    }

    pub fn client(&self) -> &Client {
        self.host.client()
    }

    /// The host's SQLite file, for the tests that read it (not run on PostgreSQL).
    pub fn db_path(&self) -> &Path {
        self.db.file()
    }

    /// A client on a second handle on the database: what another process (`durable start
    /// --db`, another host) writes.
    pub fn other_process_client(&self) -> Client {
        Client::new(self.db.store(), Arc::new(self.clock.clone()))
    }

    /// How many inbox messages and activity tasks an instance has queued, read from the
    /// database's tables (the store has no such query: the engine never needs one).
    pub fn queued(&self, instance_id: &str) -> (i64, i64) {
        let count = |table| self.db.rows_of_instance(table, instance_id);
        (count("inbox"), count("activities"))
    }

    /// A host on a fresh file with these guest components deployed, running.
    pub async fn running(guests: &[&str]) -> TestHost {
        let mut t = TestHost::new();
        t.deploy(guests).await;
        t.run();
        t
    }

    /// A host on a fresh file with this component deployed, running.
    pub async fn running_component(bytes: &[u8]) -> TestHost {
        let mut t = TestHost::new();
        t.deploy_component(bytes).await;
        t.run();
        t
    }

    /// Starts `orchestrator` with `input` (JSON text) under the id `id`.
    pub async fn start_as(&self, orchestrator: &str, id: &str, input: impl Into<String>) {
        let request = StartRequest::new(orchestrator)
            .instance_id(id)
            .input(input.into());
        self.client()
            .start(request)
            .await
            .unwrap_or_else(|e| panic!("starting {orchestrator} as {id}: {e}"));
    }

    /// Starts `orchestrator` with `input` (JSON text) under a new id and returns the id.
    pub async fn start(&self, orchestrator: &str, input: impl Into<String>) -> String {
        let request = StartRequest::new(orchestrator).input(input.into());
        self.client()
            .start(request)
            .await
            .unwrap_or_else(|e| panic!("starting {orchestrator}: {e}"))
    }

    /// Deploys guest components by name.
    pub async fn deploy(&self, guests: &[&str]) {
        for name in guests {
            self.host
                .deploy(&guest_bytes(name))
                .await
                .unwrap_or_else(|e| panic!("deploying {name}: {e:#}"));
        }
    }

    /// Deploys one component's bytes (a Python or JavaScript build, say).
    pub async fn deploy_component(&self, bytes: &[u8]) {
        self.host
            .deploy(bytes)
            .await
            .unwrap_or_else(|e| panic!("deploying a component: {e:#}"));
    }

    /// Deploys one component's bytes labelled with a version.
    pub async fn deploy_version(&self, bytes: &[u8], version: &str) {
        self.host
            .deploy_version(bytes, version)
            .await
            .unwrap_or_else(|e| panic!("deploying a component as version {version}: {e:#}"));
    }

    /// Starts the dispatch loops.
    pub fn run(&mut self) {
        self.running = Some(self.host.start());
    }

    pub async fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown().await;
        }
    }

    /// Waits (bounded) for the instance to finish.
    pub async fn finish(&self, id: &str) -> InstanceRecord {
        self.client()
            .wait(id, Duration::from_secs(60))
            .await
            .unwrap_or_else(|e| panic!("waiting for {id}: {e}"))
    }

    /// Polls (bounded) until the instance's history satisfies `done`: the
    /// way to wait for the host to reach a point, never for a timer.
    pub async fn history_until(
        &self,
        id: &str,
        done: impl Fn(&[HistoryEvent]) -> bool,
    ) -> Vec<HistoryEvent> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let history = self.client().history(id).await.expect("history");
            if done(&history) {
                return history;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "instance {id} never reached the expected point; history: {history:#?}"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Polls (bounded) until the entity's record satisfies `done`.
    pub async fn entity_until(
        &self,
        name: &str,
        key: &str,
        done: impl Fn(&EntityRecord) -> bool,
    ) -> EntityRecord {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let record = self.client().entity_state(name, key).await.unwrap();
            if let Some(record) = record.as_ref().filter(|r| done(r)) {
                return record.clone();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "entity {name}@{key} never reached the expected state: {record:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// Grants the probe's file-writing activities (`slow_step`, `needs_flag`) what they read: a
/// `/data` directory (`dir` on the host) and `SLOW_STEP_MS`, how long `slow_step` takes.
pub fn probe_data(config: &mut HostConfig, dir: &Path, slow_step_ms: u64) {
    let capabilities = &mut config.capabilities;
    capabilities
        .env
        .push(("SLOW_STEP_MS".into(), slow_step_ms.to_string()));
    capabilities.dirs.push((dir.to_path_buf(), "/data".into()));
}

/// True if the history has an event of this label (`TimerCreated`).
pub fn has(history: &[HistoryEvent], label: &str) -> bool {
    history.iter().any(|e| e.kind.label() == label)
}

pub fn count(history: &[HistoryEvent], label: &str) -> usize {
    history.iter().filter(|e| e.kind.label() == label).count()
}

/// The output of a completed instance as JSON.
pub fn output(record: &InstanceRecord) -> serde_json::Value {
    assert!(
        record.output.is_some(),
        "instance {} has no output: {record:#?}",
        record.instance_id
    );
    serde_json::from_str(record.output.as_deref().unwrap_or("null")).expect("output is JSON")
}

pub fn is_timer_fired(e: &HistoryEvent) -> bool {
    matches!(e.kind, EventKind::TimerFired { .. })
}
