//! The `durable` command as a person uses it: the real binary, its exit
//! codes, and the messages it prints.

use crate::process::{Durable, Outcome, count_json, durable_build};
use crate::support::{Lang, guest, per_language, workspace_root};
use serde_json::json;
use std::ffi::OsStr;
use std::path::Path;
use std::process::Command;

fn with_component<'a>(command: &'a str, component: &'a Path) -> [&'a OsStr; 3] {
    [
        OsStr::new(command),
        OsStr::new("--component"),
        component.as_os_str(),
    ]
}

/// Error lines start `error: ` and name the cause; no panics, no backtraces.
#[track_caller]
fn assert_readable_error(stderr: &str, expected: &str) {
    assert!(
        stderr.contains(expected),
        "stderr should say `{expected}`:\n{stderr}"
    );
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

per_language!(sync run_prints_the_orchestration_output: rust, python, js);

fn run_prints_the_orchestration_output(lang: Lang) {
    let durable = Durable::new();
    let out = durable.run(with_component("run", &lang.example("hello_sequence")));
    let printed: serde_json::Value =
        serde_json::from_str(out.ok()).unwrap_or_else(|e| panic!("stdout is JSON ({e}): {out:#?}"));
    assert_eq!(
        printed,
        json!(["Hello Tokyo!", "Hello Seattle!", "Hello London!"])
    );
    assert!(
        durable.db.file().exists(),
        "the database named by --db was used"
    );
}

#[test]
fn bad_requests_say_what_is_wrong() {
    let durable = Durable::new();

    let out = durable.run(["start", "hello_sequence", "--input", "{bad"]);
    assert_readable_error(out.err(), "the input is not valid JSON");

    let out = durable.run(["start", "no_such"]);
    assert_readable_error(out.err(), "unknown orchestrator `no_such`");
    assert!(
        out.stderr.contains("no component is deployed yet"),
        "{}",
        out.stderr
    );

    durable
        .run(with_component("deploy", &guest("hello-sequence")))
        .ok();
    let out = durable.run(["start", "no_such"]);
    assert_readable_error(out.err(), "unknown orchestrator `no_such`");
    assert!(
        out.stderr
            .contains("deployed components offer: hello_sequence"),
        "lists what is deployed: {}",
        out.stderr
    );

    let text = durable.path("notes.txt");
    std::fs::write(&text, "this is not wasm\n").unwrap();
    let out = durable.run(with_component("run", &text));
    assert_readable_error(out.err(), "not a valid WebAssembly component");
    assert!(
        out.stderr.contains("notes.txt"),
        "names the file: {}",
        out.stderr
    );

    let hello = guest("hello-sequence");
    let mut args = with_component("run", &hello).to_vec();
    args.extend([OsStr::new("--free-slot-memory-kib"), OsStr::new("99999999")]);
    let out = durable.run(args);
    assert_readable_error(out.err(), "--free-slot-memory-kib");
    assert!(out.stderr.contains("0..=4194304"), "{}", out.stderr);

    let out = durable.run(["status", "missing-id"]);
    assert_readable_error(out.err(), "no instance with id `missing-id`");

    let out = durable.run(["list", "--status", "Bogus"]);
    assert_readable_error(out.err(), "unknown status `Bogus`");
    assert!(
        out.stderr.contains("Pending, Running, Completed"),
        "lists the valid statuses: {}",
        out.stderr
    );
    // Status names are not case sensitive; nothing matches yet.
    assert_eq!(durable.run(["list", "--status", "running"]).ok(), "");
}

/// `durable list | head -1`: the command ends when its reader goes away, as Unix tools do,
/// without a panic about a broken pipe.
#[test]
fn a_listing_ends_quietly_when_its_reader_goes_away() {
    let durable = Durable::new();
    durable.deploy(&guest("human-interaction"));
    durable
        .run(["start", "approval_workflow", "--id", "waiting"])
        .ok();
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader); // the reader is gone before the first line
    let mut list = durable.command(["list"]);
    let ended = list
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .expect("durable list ends");
    let stderr = String::from_utf8_lossy(&ended.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    use std::os::unix::process::ExitStatusExt as _;
    assert_eq!(ended.status.signal(), Some(libc::SIGPIPE), "{stderr}");
}

#[test]
fn a_waiting_instance_is_driven_from_the_command_line() {
    let durable = Durable::new();
    durable
        .run(with_component("deploy", &guest("human-interaction")))
        .ok();
    let mut serve = durable.serve("serve.log", ["--poll-ms", "20"]);

    let out = durable.run(["start", "approval_workflow", "--id", "appr-1"]);
    assert_eq!(out.ok().trim(), "appr-1");
    let out = durable.run(["start", "approval_workflow", "--id", "appr-1"]);
    assert_readable_error(out.err(), "`appr-1` already exists");
    assert_eq!(
        durable
            .run(["start", "approval_workflow", "--id", "appr-2"])
            .ok()
            .trim(),
        "appr-2"
    );

    for id in ["appr-1", "appr-2"] {
        durable.history_until(id, |h| count_json(h, "TimerCreated") == 1);
    }
    serve.assert_running();

    let listed = durable.run(["list", "--status", "Running"]);
    let ids: Vec<&str> = listed
        .ok()
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .collect();
    assert_eq!(ids, ["appr-1", "appr-2"], "{listed:#?}");
    assert!(listed.stdout.contains("approval_workflow"), "{listed:#?}");
    assert_eq!(durable.run(["list", "--status", "Completed"]).ok(), "");
    let prefixed = durable.run(["list", "--prefix", "appr-2"]);
    assert_eq!(prefixed.ok().lines().count(), 1, "{prefixed:#?}");
    let ids_of = |args: &[&str]| {
        let out = durable.run(args);
        out.ok()
            .lines()
            .filter_map(|line| line.split_whitespace().next())
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        ids_of(&["list", "--name", "approval_workflow", "--newest-first"]),
        ["appr-2", "appr-1"]
    );
    assert!(
        ids_of(&["list", "--name", "approval"]).is_empty(),
        "names are exact"
    );
    let status: serde_json::Value =
        serde_json::from_str(durable.run(["status", "appr-1"]).ok()).expect("status JSON");
    let digest = status["component"].as_str().expect("the component digest");
    assert_eq!(ids_of(&["list", "--digest", digest]), ["appr-1", "appr-2"]);
    assert!(ids_of(&["list", "--digest", "sha256:none"]).is_empty());

    let history = durable.run(["history", "appr-1"]);
    let text = history.ok();
    for label in [
        "ExecutionStarted",
        "TaskScheduled",
        "TaskCompleted",
        "TimerCreated",
    ] {
        assert!(text.contains(label), "history shows {label}:\n{text}");
    }
    assert!(text.contains("request_approval"), "{text}");

    let logs = durable.run(["logs", "appr-1"]);
    assert!(
        logs.ok().contains("INFO  approval requested for appr-1"),
        "{logs:#?}"
    );

    let out = durable.run(["raise-event", "appr-1", "Approval", "--data", "{nope"]);
    assert_readable_error(out.err(), "the event data is not valid JSON");
    durable
        .run(["raise-event", "appr-1", "Approval", "--data", "true"])
        .ok();
    let waited = durable.run(["wait", "appr-1", "--timeout", "60"]);
    let status: serde_json::Value = serde_json::from_str(waited.ok()).expect("status JSON");
    assert_eq!(status["runtimeStatus"], "Completed", "{status:#}");
    assert_eq!(status["output"], "approved", "{status:#}");

    durable
        .run(["terminate", "appr-2", "--reason", "no longer needed"])
        .ok();
    let waited = durable.run(["wait", "appr-2", "--timeout", "60"]);
    let status: serde_json::Value = serde_json::from_str(waited.ok()).expect("status JSON");
    assert_eq!(status["runtimeStatus"], "Terminated", "{status:#}");
    assert_eq!(status["output"], "no longer needed", "{status:#}");

    let out = durable.run(["raise-event", "appr-1", "Approval", "--data", "false"]);
    assert_readable_error(
        out.err(),
        "instance `appr-1` has already finished (Completed)",
    );
    let out = durable.run(["terminate", "appr-2"]);
    assert_readable_error(out.err(), "has already finished (Terminated)");
    let out = durable.run(["raise-event", "nobody", "Approval"]);
    assert_readable_error(out.err(), "no instance with id `nobody`");

    let status = durable.run(["status", "appr-2"]);
    let status: serde_json::Value = serde_json::from_str(status.ok()).expect("status JSON");
    assert_eq!(status["instanceId"], "appr-2");
    let finished = durable.run(["list", "--status", "Completed,Terminated"]);
    assert_eq!(finished.ok().lines().count(), 2, "{finished:#?}");

    // Suspend, resume, restart and purge from the command line.
    durable
        .run(["start", "approval_workflow", "--id", "appr-3"])
        .ok();
    durable.history_until("appr-3", |h| count_json(h, "TimerCreated") == 1);
    durable.run(["suspend", "appr-3", "--reason", "lunch"]).ok();
    durable.history_until("appr-3", |h| count_json(h, "ExecutionSuspended") == 1);
    let status = durable.run(["status", "appr-3"]);
    assert!(status.ok().contains("\"Suspended\""), "{status:#?}");
    durable
        .run(["raise-event", "appr-3", "Approval", "--data", "true"])
        .ok();
    durable.run(["resume", "appr-3"]).ok();
    let waited = durable.run(["wait", "appr-3", "--timeout", "60"]);
    assert!(waited.ok().contains("\"approved\""), "{waited:#?}");
    let out = durable.run(["resume", "appr-3"]);
    assert_readable_error(out.err(), "is not suspended");

    let restarted = durable.run(["restart", "appr-2", "--new-id"]);
    let new_id = restarted.ok().trim().to_owned();
    assert_ne!(new_id, "appr-2");
    durable.run(["terminate", &new_id]).ok();
    durable.run(["wait", &new_id, "--timeout", "60"]).ok();

    let out = durable.run(["purge"]);
    assert_readable_error(out.err(), "give an instance id, or filters");
    let purged = durable.run(["purge", "appr-1"]);
    assert_eq!(purged.ok().trim(), "1 instances deleted");
    let purged = durable.run(["purge", "--status", "Completed,Terminated"]);
    assert_eq!(purged.ok().trim(), "3 instances deleted", "{purged:#?}");
    assert_eq!(durable.run(["list"]).ok(), "");
    serve.assert_running();
}

/// `--url`: the instance commands drive a running `durable serve` through its
/// HTTP API, with its API key, instead of opening the database.
#[test]
fn instance_commands_work_over_url_against_a_running_server() {
    let durable = Durable::new();
    let port = crate::process::free_port();
    let url = format!("http://127.0.0.1:{port}");
    let component = guest("probe");
    let mut serve = durable.serve(
        "serve.log",
        [
            "--http-addr",
            &format!("127.0.0.1:{port}"),
            "--api-key",
            "secret-1",
            "--component",
            component.to_str().unwrap(),
        ],
    );
    let remote = |args: &[&str]| {
        let mut all = vec!["--url", url.as_str(), "--key", "secret-1"];
        all.extend_from_slice(args);
        durable.run(all)
    };
    // The server takes a moment to listen.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let id = loop {
        let out = remote(&["start", "clock_random_uuid", "--id", "remote-1"]);
        if out.status.success() {
            break out.stdout.trim().to_owned();
        }
        serve.assert_running();
        assert!(std::time::Instant::now() < deadline, "{out:#?}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert_eq!(id, "remote-1");
    let status = remote(&["status", "remote-1"]);
    assert!(status.ok().contains("\"runtimeStatus\""), "{status:#?}");
    remote(&["raise-event", "remote-1", "go", "--data", "5"]).ok();
    let waited = remote(&["wait", "remote-1", "--timeout", "60"]);
    assert!(waited.ok().contains("\"Completed\""), "{waited:#?}");
    let history = remote(&["history", "remote-1"]);
    assert!(history.ok().contains("EventRaised"), "{history:#?}");
    let listed = remote(&["list", "--status", "Completed"]);
    assert!(listed.ok().starts_with("remote-1"), "{listed:#?}");
    let named = remote(&["list", "--name", "clock_random_uuid", "--newest-first"]);
    assert!(named.ok().starts_with("remote-1"), "{named:#?}");
    let other = remote(&["list", "--name", "echo"]);
    assert_eq!(other.ok(), "", "{other:#?}");

    let out = remote(&["raise-event", "missing", "go"]);
    assert_readable_error(out.err(), "no instance with id `missing`");
    let out = remote(&["logs", "remote-1"]);
    assert_readable_error(out.err(), "not over --url");
    let out = durable.run(["--url", url.as_str(), "status", "remote-1"]);
    assert_readable_error(out.err(), "HTTP 401");

    let purged = remote(&["purge", "remote-1"]);
    assert_eq!(purged.ok().trim(), "1 instances deleted");

    // Deploying over --url: the server checks the code against its stored histories first.
    remote(&["start", "hello_sequence", "--id", "remote-2"]).ok();
    remote(&["wait", "remote-2", "--timeout", "60"]).ok();
    let hello = guest("hello-sequence");
    let hello = hello.to_str().unwrap();
    let verify = ["--verify", "--require-compatible", "--since", "0"];
    let refused = remote(&[&["deploy", "--component", hello][..], &verify].concat());
    assert_readable_error(
        refused.err(),
        "not deployed: 1 of 1 instances do not replay",
    );
    assert!(
        refused.stdout.contains(
            "remote-2 (hello_sequence, Completed): NonDeterminism: step 0: code scheduled \
             activity `say_hello`, history has activity `say_goodbye`"
        ),
        "{refused:#?}"
    );
    let out = durable.run(["--url", url.as_str(), "deploy", "--component", hello]);
    assert_readable_error(out.err(), "HTTP 401");
    let deployed = remote(&["deploy", "--component", hello]);
    let digest = durable_host::wasm::digest_of(&std::fs::read(hello).unwrap());
    assert_eq!(deployed.ok().trim(), digest);
    let listed = remote(&["deployments"]);
    assert!(
        listed
            .ok()
            .starts_with(&format!("{digest}  current  deployed ")),
        "{listed:#?}"
    );
    serve.assert_running();
}

/// `durable build DIR -o OUT`, then `durable run --component OUT` prints the
/// hello_sequence greetings.
#[track_caller]
fn build_and_run_hello_sequence(app_dir: &str, mut build: Command) {
    let d = Durable::new();
    let out = d.path("app.wasm");
    let built = Outcome::of(
        build
            .arg(workspace_root().join(app_dir))
            .arg("-o")
            .arg(&out),
    );
    let stdout = built.ok();
    assert!(
        stdout.starts_with("built ") && stdout.contains("app.wasm") && stdout.contains(" MB) in "),
        "build should say what it built: {built:#?}"
    );
    let greetings = d.run(with_component("run", &out));
    for city in ["Tokyo", "Seattle", "London"] {
        assert!(
            greetings.ok().contains(&format!("Hello {city}!")),
            "{greetings:#?}"
        );
    }
}

#[test]
fn build_turns_a_python_app_into_a_component() {
    build_and_run_hello_sequence("examples/python/hello_sequence", durable_build());
}

#[test]
fn build_turns_a_js_app_into_a_component() {
    build_and_run_hello_sequence("examples/js/hello_sequence", durable_build());
}

#[test]
fn build_turns_a_rust_crate_into_a_component() {
    let mut build = durable_build();
    // Share the compiled dependencies of the guests the other tests build.
    build.env(
        "CARGO_TARGET_DIR",
        workspace_root().join("target").join("wasm"),
    );
    for var in ["CARGO_ENCODED_RUSTFLAGS", "RUSTFLAGS", "CARGO_BUILD_TARGET"] {
        build.env_remove(var);
    }
    build_and_run_hello_sequence("examples/hello-sequence", build);
}

/// `durable build` keeps Python and JavaScript components by a hash of what went into them:
/// the same sources give the same component (one digest) at once; a changed file, or
/// `--no-cache`, builds again.
#[test]
fn build_reuses_the_component_built_from_the_same_sources() {
    let d = Durable::new();
    let app = d.path("app");
    std::fs::create_dir(&app).unwrap();
    let example = workspace_root().join("examples/python/hello_sequence/app.py");
    // A new app, so its first build cannot be in the cache yet.
    let source = format!(
        "{}\n# {}\n",
        std::fs::read_to_string(example).unwrap(),
        d.dir.path().display()
    );
    std::fs::write(app.join("app.py"), &source).unwrap();
    let build = |out: &str, no_cache: bool| {
        let mut build = durable_build();
        build.arg(&app).arg("-o").arg(d.path(out));
        if no_cache {
            build.arg("--no-cache");
        }
        Outcome::of(&mut build)
    };
    let cached = |out: &Outcome| {
        out.ok()
            .contains("(sources unchanged: from the build cache)")
    };

    let first = build("first.wasm", false);
    assert!(!cached(&first), "{first:#?}");
    let again = build("again.wasm", false);
    assert!(cached(&again), "{again:#?}");
    let bytes = |name: &str| std::fs::read(d.path(name)).unwrap();
    assert_eq!(
        bytes("first.wasm"),
        bytes("again.wasm"),
        "one component, one digest"
    );
    let forced = build("forced.wasm", true);
    assert!(!cached(&forced), "{forced:#?}");
    std::fs::write(app.join("app.py"), format!("{source}# changed\n")).unwrap();
    let changed = build("changed.wasm", false);
    assert!(
        !cached(&changed),
        "a changed file builds again: {changed:#?}"
    );
    let greetings = d.run(with_component("run", &d.path("changed.wasm")));
    assert!(greetings.ok().contains("Hello London!"), "{greetings:#?}");
}

#[test]
fn build_names_the_component_after_the_app_dir_by_default() {
    let d = Durable::new();
    let mut build = durable_build();
    build
        .current_dir(d.dir.path())
        .env(
            "CARGO_TARGET_DIR",
            workspace_root().join("target").join("wasm"),
        )
        .arg(workspace_root().join("examples").join("hello-sequence"));
    let built = Outcome::of(&mut build);
    assert!(
        built.ok().starts_with("built hello-sequence.wasm (Rust, "),
        "{built:#?}"
    );
    assert!(d.path("hello-sequence.wasm").is_file());
}

#[test]
fn build_says_what_is_wrong_with_the_app_dir() {
    let d = Durable::new();
    let app = d.path("app");
    std::fs::create_dir(&app).unwrap();
    let build = |app: &Path| Outcome::of(durable_build().arg(app).arg("-o").arg(d.path("x.wasm")));

    let missing = build(&d.path("missing"));
    assert_readable_error(missing.err(), "missing is not a directory");

    let empty = build(&app);
    assert_readable_error(
        empty.err(),
        "holds no app: put `app.py` (Python, or a Durable Functions project's `function_app.py` or function folders), `app.js` (JavaScript, or a Durable Functions project's `package.json` or function folders) or a `Cargo.toml` (Rust) in it",
    );

    // Function folders (Durable Functions' older programming models) with no durable function.
    let starter = app.join("HttpStart");
    std::fs::create_dir(&starter).unwrap();
    std::fs::write(
        starter.join("function.json"),
        r#"{"bindings": [{"type": "httpTrigger", "name": "req"}, {"type": "durableClient", "name": "starter"}]}"#,
    )
    .unwrap();
    std::fs::write(starter.join("__init__.py"), "").unwrap();
    assert_readable_error(
        build(&app).err(),
        "holds function folders but no orchestrator, activity or entity",
    );
    std::fs::remove_dir_all(&starter).unwrap();

    std::fs::write(app.join("app.py"), "import durable\n").unwrap();
    std::fs::write(app.join("app.js"), "import * as df from 'durable';\n").unwrap();
    let both = build(&app);
    assert_readable_error(
        both.err(),
        "holds `app.py` and `app.js`: cannot tell which one to build",
    );
    assert!(!d.path("x.wasm").exists());
}

/// Like [`assert_readable_error`], after the lines a build prints while it
/// installs a toolchain.
#[track_caller]
fn assert_build_error(stderr: &str, expected: &str) {
    let error = stderr
        .find("error: ")
        .map(|at| &stderr[at..])
        .unwrap_or_else(|| panic!("no `error: ` line:\n{stderr}"));
    assert_readable_error(error, expected);
}

const BROKEN_PYTHON: &str = "import durable\n\napp = durable.App()\n\ndef oops(:\n    pass\n";
const BROKEN_JS: &str =
    "import * as df from 'durable';\n\ndf.app.activity('x', { handler: (a) => { a + });\n";

/// Builds an app directory holding `file` with `text`; returns the outcome and where the
/// component would have been written.
fn build_broken_app(d: &Durable, file: &str, text: &str) -> (Outcome, std::path::PathBuf) {
    let app = d.path("broken");
    std::fs::create_dir(&app).unwrap();
    std::fs::write(app.join(file), text).unwrap();
    let out = d.path("broken.wasm");
    let built = Outcome::of(durable_build().arg(&app).arg("-o").arg(&out));
    (built, out)
}

#[test]
fn build_shows_componentize_py_errors_for_a_broken_python_app() {
    let d = Durable::new();
    let (built, out) = build_broken_app(&d, "app.py", BROKEN_PYTHON);
    let stderr = built.err();
    assert_build_error(stderr, "app.py does not build; componentize-py says:");
    assert!(stderr.contains("SyntaxError"), "{stderr}");
    assert!(!out.exists());
}

#[test]
fn build_shows_the_bundler_errors_for_a_broken_js_app() {
    let d = Durable::new();
    let (built, out) = build_broken_app(&d, "app.js", BROKEN_JS);
    assert_build_error(built.err(), "app.js does not bundle; node says:");
    assert!(!out.exists());
}

#[test]
fn build_names_the_missing_toolchain() {
    let d = Durable::new();
    // Nothing on PATH and nothing installed: the toolchains cannot be installed.
    let empty = d.path("empty-path");
    std::fs::create_dir(&empty).unwrap();
    let build = |app: &str| {
        Outcome::of(
            durable_build()
                .arg(workspace_root().join(app))
                .arg("-o")
                .arg(d.path("x.wasm"))
                .env("PATH", &empty)
                .env("DURABLE_TOOLS_DIR", d.path("tools")),
        )
    };
    let python = build("examples/python/hello_sequence");
    assert_build_error(
        python.err(),
        "python3 was not found: durable build needs Python 3 with venv and pip to install \
         componentize-py 0.25.1 (once)",
    );
    let js = build("examples/js/hello_sequence");
    assert_build_error(
        js.err(),
        "npm was not found: durable build needs Node.js 20 or newer with npm to install \
         componentize-js 0.23.0 and rolldown 1.3.2 (once)",
    );
}

/// A PostgreSQL database `durable` cannot use: a URL that does not parse, a server that
/// refuses the connection, a user without the privileges to create the tables, a schema newer
/// than this build. One `error:` line each, exit 1, and nothing written. Runs when
/// `DURABLE_TEST_POSTGRES` names a server; passes otherwise.
#[test]
fn postgres_problems_are_one_clear_line_each_and_write_nothing() {
    use crate::backend::{TestDb, postgres_execute};
    let Ok(server) = std::env::var("DURABLE_TEST_POSTGRES") else {
        eprintln!("DURABLE_TEST_POSTGRES is not set: the PostgreSQL errors are not tested");
        return;
    };
    let durable = Durable {
        dir: tempfile::tempdir().expect("temp dir"),
        db: TestDb::postgres(&server),
    };
    let url = durable.db.arg().to_str().expect("a URL").to_owned();
    let role = NoAccessRole::create(&server);
    // (PostgreSQL 15 and later do not let everyone create in `public`; older ones did.)
    postgres_execute(&url, "REVOKE CREATE ON SCHEMA public FROM PUBLIC");
    let no_access = with_user(&url, &role.0);
    let list = |db: &str| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_durable"));
        cmd.args(["--db", db, "list"]).env_remove("DURABLE_DB");
        Outcome::of(&mut cmd)
    };
    let cases = [
        ("postgres://127.0.0.1:5432:x/test", "invalid PostgreSQL URL"),
        (
            "postgres://postgres@127.0.0.1:1/test",
            "cannot connect to PostgreSQL at 127.0.0.1:1",
        ),
        (
            no_access.as_str(),
            "permission denied for schema public (42501); the database user needs the right \
             to create tables",
        ),
    ];
    for (db, expected) in cases {
        let out = list(db);
        assert_eq!(out.status.code(), Some(1), "{db}: {out:#?}");
        assert_readable_error(&out.stderr, expected);
        assert_eq!(out.stderr.trim_end().lines().count(), 1, "{out:#?}");
    }
    let tables = |url: &str| {
        let sql = "SELECT COUNT(*) FROM pg_tables WHERE schemaname = 'public'";
        crate::backend::postgres_query_i64(url, sql)
    };
    assert_eq!(tables(&url), 0, "the user without privileges wrote nothing");

    // The tables made by a user who may; the one who may not still cannot use them.
    list(&url).ok();
    let out = list(&no_access);
    assert_eq!(out.status.code(), Some(1), "{out:#?}");
    assert_readable_error(&out.stderr, "permission denied for table durable_schema");

    // A schema newer than this build: refused, and left as it was.
    postgres_execute(&url, "UPDATE durable_schema SET version = 99");
    let out = list(&url);
    assert_eq!(out.status.code(), Some(1), "{out:#?}");
    assert_readable_error(&out.stderr, "schema version 99, newer than this build");
    assert_eq!(
        crate::backend::postgres_query_i64(&url, "SELECT version FROM durable_schema"),
        99
    );
}

/// A login role with no privileges beyond connecting, dropped at the end.
struct NoAccessRole(String, String);

impl NoAccessRole {
    fn create(server: &str) -> NoAccessRole {
        let name = format!("durable_e2e_noaccess_{}", std::process::id());
        crate::backend::postgres_execute(server, &format!("CREATE ROLE {name} LOGIN"));
        NoAccessRole(name, server.to_owned())
    }
}

impl Drop for NoAccessRole {
    fn drop(&mut self) {
        // Its connections are gone (each `durable` exited); it owns nothing.
        crate::backend::postgres_execute(&self.1, &format!("DROP ROLE IF EXISTS {}", self.0));
    }
}

/// `url` with the user `user` and no password.
fn with_user(url: &str, user: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let rest = rest.split_once('@').map_or(rest, |(_, host)| host);
    format!("{scheme}://{user}@{rest}")
}
