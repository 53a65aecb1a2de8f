//! Running the real `durable` binary: commands against a database in a
//! temporary directory, and `durable serve` children that are killed when
//! the test ends, even by a panic.

use crate::backend::TestDb;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A temporary directory, the test's database (`durable.db` in it, or a PostgreSQL database:
/// [`crate::backend`]), and the binary to run on them.
pub struct Durable {
    pub db: TestDb,
    pub dir: tempfile::TempDir,
}

/// What a finished command printed.
#[derive(Debug)]
pub struct Outcome {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Outcome {
    /// Asserts exit code 0 and returns stdout.
    #[track_caller]
    pub fn ok(&self) -> &str {
        assert!(self.status.success(), "expected success: {self:#?}");
        &self.stdout
    }

    /// Asserts a non-zero exit and returns stderr.
    #[track_caller]
    pub fn err(&self) -> &str {
        assert!(!self.status.success(), "expected a failure: {self:#?}");
        assert_ne!(self.status.code(), None, "killed by a signal: {self:#?}");
        &self.stderr
    }
}

impl Outcome {
    /// Runs `cmd` to the end.
    pub fn of(cmd: &mut Command) -> Outcome {
        let output = cmd
            .output()
            .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
        Outcome {
            status: output.status,
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

/// A local port no one listens on right now, for a `durable serve --http-addr`.
pub fn free_port() -> u16 {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("binding port 0");
    probe.local_addr().expect("its address").port()
}

/// `durable build`, to which the caller adds the app directory and `-o`. The
/// toolchains it installs land in the user's tools directory
/// (`~/.cache/durable/tools` unless `DURABLE_TOOLS_DIR` or `XDG_CACHE_HOME`
/// says otherwise), which outlives test runs: componentize-py and
/// componentize-js are installed once per machine.
pub fn durable_build() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_durable"));
    cmd.arg("build").env_remove("RUST_LOG").stdin(Stdio::null());
    cmd
}

/// Builds the app in `app_dir` into `out`, failing the test with the build's output when it
/// does not build; `needs` says what the build installs the first time.
#[track_caller]
pub fn build(app_dir: &Path, out: &Path, needs: &str) {
    let started = Instant::now();
    let built = Outcome::of(durable_build().arg(app_dir).arg("-o").arg(out));
    assert!(
        built.status.success(),
        "`durable build {}` failed ({needs}):\n{}{}",
        app_dir.display(),
        built.stdout,
        built.stderr
    );
    eprintln!("built {} in {:.1?}", out.display(), started.elapsed());
}

impl Durable {
    pub fn new() -> Durable {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = TestDb::new(dir.path());
        Durable { db, dir }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `durable --db <db> <args>`, sharing compiled components between runs.
    pub fn command<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_durable"));
        // Compiled components are cached where a user's are (`~/.cache/durable`, by digest
        // and version), shared with the in-process tests ([`crate::support::compile_cache`]),
        // so a fresh clone does not compile the same components again.
        cmd.arg("--db").arg(self.db.arg()).args(args);
        cmd.env_remove("DURABLE_DB")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null());
        cmd
    }

    /// Runs a command to the end.
    pub fn run<I, S>(&self, args: I) -> Outcome
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        Outcome::of(&mut self.command(args))
    }

    /// `durable deploy --component <component>`, asserting success: a test that starts
    /// instances with another process while `durable serve` comes up deploys first, so the
    /// start never races the server's own deployment.
    pub fn deploy(&self, component: &Path) {
        self.run([
            OsStr::new("deploy"),
            OsStr::new("--component"),
            component.as_os_str(),
        ])
        .ok();
    }

    /// The arguments of a `durable serve` that a test kills and starts again: activities get
    /// `<dir>/data` (created here) as `/data` and the environment variables `env`
    /// (`KEY=VALUE`), work from other processes is noticed within 20 ms, and the leases are
    /// [`LONG_LEASES`].
    pub fn killable_serve_args(&self, env: &[String]) -> Vec<OsString> {
        self.serve_args_with_leases(env, LONG_LEASES)
    }

    /// [`Durable::killable_serve_args`] with other lease flags.
    pub fn serve_args_with_leases(&self, env: &[String], leases: [&str; 4]) -> Vec<OsString> {
        let data = self.path("data");
        std::fs::create_dir_all(&data).expect("data dir");
        let mut args: Vec<OsString> = vec![
            "--dir".into(),
            format!("{}::/data", data.display()).into(),
            "--poll-ms".into(),
            "20".into(),
        ];
        for var in env {
            args.extend(["--env".into(), var.into()]);
        }
        args.extend(leases.map(OsString::from));
        args
    }

    /// Starts `durable serve <args>`; its stderr goes to `<dir>/<log>`.
    pub fn serve<I, S>(&self, log: &str, args: I) -> Serve
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let log = self.path(log);
        let file = std::fs::File::create(&log).expect("serve log file");
        let mut cmd = self.command(["serve"]);
        // Tests run in parallel: the HTTP API must not take the fixed
        // default port (an explicit `--http-addr` in `args` wins).
        cmd.env("DURABLE_HTTP_ADDR", "127.0.0.1:0");
        cmd.args(args).stdout(Stdio::null()).stderr(file);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {cmd:?}: {e}"));
        Serve { child, log }
    }

    /// Starts `durable serve <args>` with its HTTP API on a free local port and returns once
    /// it listens (the components given are deployed by then), with the API's origin
    /// (`http://127.0.0.1:<port>`).
    pub fn serve_listening<I, S>(&self, log: &str, args: I) -> (Serve, String)
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let addr = format!("127.0.0.1:{}", free_port());
        let args: Vec<OsString> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
        let mut serve = self.serve(
            log,
            ["--http-addr".into(), OsString::from(&addr)]
                .into_iter()
                .chain(args),
        );
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(&addr).is_err() {
            serve.assert_running();
            assert!(
                Instant::now() < deadline,
                "durable serve never listened on {addr}:\n{}",
                serve.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        (serve, format!("http://{addr}"))
    }

    /// Runs `durable history <id> --json` until `done` holds (bounded).
    pub fn history_until(
        &self,
        id: &str,
        done: impl Fn(&[serde_json::Value]) -> bool,
    ) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let out = self.run(["history", id, "--json"]);
            let history: Vec<serde_json::Value> = if out.status.success() {
                serde_json::from_str(&out.stdout).expect("history --json prints a JSON array")
            } else {
                Vec::new()
            };
            if done(&history) {
                return history;
            }
            assert!(
                Instant::now() < deadline,
                "instance {id} never reached the expected point: {out:#?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Leases far longer than any test's bounds (the defaults are 60 s for turns and entity
/// batches and 30 s for activities): work a kill interrupts must be taken over because the
/// killed host is gone (host liveness), never because its leases ran out. The crash and chaos
/// tests pass them ([`Durable::killable_serve_args`]).
pub const LONG_LEASES: [&str; 4] = ["--activity-lease", "600", "--orchestration-lease", "600"];

/// A running `durable serve`; killed (SIGKILL) and reaped on drop.
pub struct Serve {
    child: Child,
    log: PathBuf,
}

impl Serve {
    /// Kills the process at once (SIGKILL on unix: no clean shutdown).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Stops the process as a service manager does (SIGTERM), once it serves (before, SIGTERM
    /// ends it as any process), and asserts that it finishes its work in flight and exits with
    /// 0 within a minute.
    #[track_caller]
    pub fn stop(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.log_text().contains("serving; Ctrl-C to stop") {
            self.assert_running();
            assert!(
                Instant::now() < deadline,
                "durable serve did not start within 60 s:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status();
        assert!(sent.is_ok_and(|s| s.success()), "kill -TERM {pid} failed");
        let deadline = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("waiting for durable serve") {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "durable serve did not exit within 60 s of SIGTERM:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(10));
        };
        assert!(
            status.success(),
            "durable serve exited with {status} on SIGTERM:\n{}",
            self.log_text()
        );
    }

    /// Panics if the process has exited (it should serve until killed).
    #[track_caller]
    pub fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("durable serve exited ({status}):\n{}", self.log_text());
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The `label` field of the history events as `durable history --json`
/// prints them (`type`).
pub fn count_json(history: &[serde_json::Value], label: &str) -> usize {
    history.iter().filter(|e| e["type"] == label).count()
}
