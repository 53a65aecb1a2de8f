//! Moving a database with `durable export` and `durable import`: an instance waiting for an
//! event in one SQLite file finishes in a copy of it, also after a trip through PostgreSQL
//! (when `DURABLE_TEST_POSTGRES` names a server), and a file cut short or altered is refused
//! without writing anything.

use crate::process::{Durable, Outcome, count_json};
use crate::support::guest;
use std::ffi::OsStr;
use std::path::Path;
use std::process::Stdio;

/// A SQLite database with `appr-1` waiting for its `Approval` event (its timer set an hour
/// out), written by a `durable serve` that still runs while the caller exports.
fn waiting_instance() -> (Durable, crate::process::Serve) {
    let source = Durable::new();
    source.deploy(&guest("human-interaction"));
    let serve = source.serve("serve.log", ["--poll-ms", "20"]);
    source
        .run(["start", "approval_workflow", "--id", "appr-1"])
        .ok();
    source.history_until("appr-1", |h| count_json(h, "TimerCreated") == 1);
    (source, serve)
}

/// `durable import <file>` into `target`.
fn import(target: &Durable, file: &Path) -> Outcome {
    target.run([OsStr::new("import"), file.as_os_str()])
}

/// `durable export -o <file>` from `source`, asserting success.
fn export(source: &Durable, file: &Path) {
    let out = source.run([OsStr::new("export"), OsStr::new("-o"), file.as_os_str()]);
    assert!(out.stderr.contains("exported"), "{out:#?}");
    out.ok();
}

/// Raises the event in `copy` under a `durable serve` of its own and sees the instance
/// finish there.
fn approve_in(copy: &Durable) {
    let _serve = copy.serve("copy.log", ["--poll-ms", "20"]);
    copy.run(["raise-event", "appr-1", "Approval", "--data", "true"])
        .ok();
    let waited = copy.run(["wait", "appr-1", "--timeout", "60"]);
    let status: serde_json::Value = serde_json::from_str(waited.ok()).expect("status JSON");
    assert_eq!(status["runtimeStatus"], "Completed", "{status:#}");
    assert_eq!(status["output"], "approved", "{status:#}");
}

/// What `durable list` shows of a database: the instance ids.
fn instance_ids(db: &Durable) -> Vec<String> {
    let listed = db.run(["list"]);
    let ids = listed.ok().lines();
    ids.filter_map(|line| line.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn a_waiting_instance_finishes_in_an_imported_copy() {
    let (source, _serve) = waiting_instance();
    let file = source.path("export.jsonl");
    export(&source, &file);

    let copy = Durable::new();
    let out = import(&copy, &file);
    assert!(out.stderr.contains("imported"), "{out:#?}");
    out.ok();
    assert_eq!(
        source.run(["history", "appr-1", "--json"]).ok(),
        copy.run(["history", "appr-1", "--json"]).ok(),
        "the copy has the same history"
    );
    // The copy is not empty any more: a second import is refused.
    let out = import(&copy, &file);
    assert!(
        out.err()
            .starts_with("error: import refused: the target database is not empty")
    );
    approve_in(&copy);
    // The source is untouched: still waiting there.
    let status = source.run(["status", "appr-1"]);
    assert!(status.ok().contains("\"Running\""), "{status:#?}");
}

#[test]
fn export_piped_into_import_copies_the_database() {
    let (source, _serve) = waiting_instance();
    let copy = Durable::new();
    let mut exporting = source
        .command(["export"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawning durable export");
    let pipe = exporting.stdout.take().expect("export's stdout");
    let out = Outcome::of(copy.command(["import", "-"]).stdin(Stdio::from(pipe)));
    assert!(exporting.wait().expect("export ends").success());
    out.ok();
    assert_eq!(instance_ids(&copy), ["appr-1"]);
    approve_in(&copy);
}

#[test]
fn a_file_cut_short_or_altered_is_refused_and_writes_nothing() {
    let (source, _serve) = waiting_instance();
    let file = source.path("export.jsonl");
    export(&source, &file);
    let text = std::fs::read_to_string(&file).unwrap();
    let lines: Vec<&str> = text.lines().collect();

    let cut = source.path("cut.jsonl");
    std::fs::write(&cut, lines[..lines.len() - 1].join("\n") + "\n").unwrap();
    let altered = source.path("altered.jsonl");
    std::fs::write(
        &altered,
        text.replacen("approval requested", "approval refused", 1),
    )
    .unwrap();
    assert_ne!(
        std::fs::read(&altered).unwrap(),
        text.as_bytes(),
        "a log line was altered"
    );
    let garbled = source.path("garbled.jsonl");
    std::fs::write(
        &garbled,
        text.replacen("\"record\":\"instance\"", "\"record\":\"other\"", 1),
    )
    .unwrap();

    for (bad, expected) in [
        (&cut, "the export is cut short"),
        (&altered, "the export was altered or damaged"),
        (&garbled, "unknown record kind `other`"),
    ] {
        let target = Durable::new();
        let out = import(&target, bad);
        let stderr = out.err();
        assert!(stderr.starts_with("error: "), "{stderr}");
        assert!(stderr.contains(expected), "{stderr}");
        assert!(stderr.contains("nothing was imported"), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
        assert!(instance_ids(&target).is_empty(), "nothing was written");
        // The failed import left the database empty: the whole file goes in.
        import(&target, &file).ok();
        assert_eq!(instance_ids(&target), ["appr-1"]);
    }
}

/// SQLite to PostgreSQL and back: the export of the PostgreSQL copy is the same file, and
/// the instance finishes in the SQLite copy of the copy. Runs when `DURABLE_TEST_POSTGRES`
/// names a server (in a database of its own, dropped at the end); passes otherwise.
#[test]
fn a_database_goes_through_postgres_and_back_unchanged() {
    let Ok(url) = std::env::var("DURABLE_TEST_POSTGRES") else {
        eprintln!("DURABLE_TEST_POSTGRES is not set: the PostgreSQL trip is not tested");
        return;
    };
    let (source, _serve) = waiting_instance();
    let file = source.path("export.jsonl");
    export(&source, &file);

    let postgres = Durable {
        dir: tempfile::tempdir().expect("temp dir"),
        db: crate::backend::TestDb::postgres(&url),
    };
    import(&postgres, &file).ok();
    let back = postgres.path("back.jsonl");
    export(&postgres, &back);
    assert_eq!(
        std::fs::read_to_string(&back).unwrap(),
        std::fs::read_to_string(&file).unwrap(),
        "the same records in the same order, and so the same digest"
    );

    let copy = Durable::new();
    import(&copy, &back).ok();
    approve_in(&copy);
}
