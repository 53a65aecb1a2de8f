//! Shipping new code to instances in flight: two real builds of the human-interaction example
//! (`examples/human-interaction`, `examples/human-interaction-v2`, which tells the requester the
//! decision after the wait) and an incompatible rewrite (`tests/guests/approval-reminder`,
//! which sets a second timer before it waits), deployed to a running `durable serve` while
//! instances wait for their approval.

use crate::process::{Durable, Serve, count_json};
use crate::support::{Lang, TestHost, count, guest, has, output, per_language, read};
use durable_host::inspect::upgrade::{Instances, Target, Upgrade};
use durable_host::types::EventKind;
use durable_host::wasm::digest_of;
use serde_json::Value;
use std::ffi::OsStr;
use std::time::{Duration, Instant};

/// `durable serve` on the database, noticing other processes' work within 20 ms, and the URL of
/// its HTTP API.
fn serve_http(durable: &Durable) -> (Serve, String) {
    let port = crate::process::free_port();
    let addr = format!("127.0.0.1:{port}");
    let serve = durable.serve("serve.log", ["--poll-ms", "20", "--http-addr", &addr]);
    (serve, format!("http://{addr}"))
}

/// `deploy --upgrade` moves the waiting instances whose histories replay against the new code
/// (recorded in their histories) and leaves the others where they are; `durable upgrade`
/// moves one instance (back to version 1 too) and every instance, locally and over `--url`;
/// each instance finishes on the code it ended up on.
#[test]
fn waiting_instances_move_to_compatible_code_and_the_others_finish_where_they_are() {
    let durable = Durable::new();
    let v1 = guest("human-interaction");
    let v2 = guest("human-interaction-v2");
    let reminder = guest("approval-reminder");
    let digest = |path: &std::path::Path| digest_of(&std::fs::read(path).unwrap());
    let (v1_digest, v2_digest, reminder_digest) = (digest(&v1), digest(&v2), digest(&reminder));
    let deploy = |component: &std::path::Path, extra: &[&str]| {
        let mut args = vec![
            OsStr::new("deploy"),
            OsStr::new("--component"),
            component.as_os_str(),
        ];
        args.extend(extra.iter().map(OsStr::new));
        durable.run(args)
    };
    let component_of = |id: &str| -> String {
        let status: Value = serde_json::from_str(durable.run(["status", id]).ok()).unwrap();
        status["component"].as_str().unwrap().to_owned()
    };
    let waiting = |id: &str| {
        durable.history_until(id, |h| count_json(h, "TimerCreated") > 0);
    };
    durable.deploy(&v1);
    let (_serve, url) = serve_http(&durable);
    for id in ["a", "b"] {
        durable.run(["start", "approval_workflow", "--id", id]).ok();
    }
    waiting("a");
    waiting("b");

    // The rewrite does not replay the waiting instances: the gate names both sides...
    let refused = deploy(&reminder, &["--verify", "--require-compatible"]);
    assert!(
        refused.err().contains("not deployed: 2 instances"),
        "{refused:#?}"
    );
    assert!(
        refused.stdout.contains(
            "a (approval_workflow, Running): NonDeterminism: step 2: code scheduled a timer, \
             history has nothing at this step"
        ),
        "{refused:#?}"
    );
    // ...and deployed with --upgrade anyway, it takes new instances and moves none.
    let out = deploy(&reminder, &["--upgrade"]);
    assert!(
        out.ok().contains(&format!(
            "a: stays on {v1_digest}: its history does not replay against {reminder_digest}: \
             NonDeterminism: step 2:"
        )),
        "{out:#?}"
    );
    assert!(
        out.stdout.contains("0 moved, 2 stay on their component"),
        "{out:#?}"
    );
    durable
        .run(["start", "approval_workflow", "--id", "e"])
        .ok();
    waiting("e");
    assert_eq!(component_of("e"), reminder_digest);

    // Version 2 replays the version 1 histories (its change comes after the wait) and not the
    // rewrite's: a and b move, e stays.
    let out = deploy(&v2, &["--verify", "--upgrade"]);
    let text = out.ok();
    assert!(
        text.contains(&format!("a: moved from {v1_digest} to {v2_digest}")),
        "{out:#?}"
    );
    assert!(
        text.contains(&format!("b: moved from {v1_digest} to {v2_digest}")),
        "{out:#?}"
    );
    assert!(
        text.contains(&format!(
            "e: stays on {reminder_digest}: its history does not replay against {v2_digest}: \
             NonDeterminism: step 2: history has a timer, code did not schedule it"
        )),
        "{out:#?}"
    );
    assert!(
        text.contains("2 moved, 1 stay on their component"),
        "{out:#?}"
    );
    assert_eq!(component_of("a"), v2_digest);
    let history: Vec<Value> =
        serde_json::from_str(durable.run(["history", "a", "--json"]).ok()).unwrap();
    let upgraded: Vec<&Value> = history
        .iter()
        .filter(|e| e["type"] == "ExecutionUpgraded")
        .collect();
    assert_eq!(upgraded.len(), 1, "{history:#?}");
    assert_eq!(upgraded[0]["from"], v1_digest.as_str());
    assert_eq!(upgraded[0]["to"], v2_digest.as_str());

    // One instance: e does not replay against the newest (exit 1, nothing changes); a moves
    // back to version 1 (nothing version 2 added has run yet) and, over --url, forward again.
    let out = durable.run(["upgrade", "e"]);
    assert_eq!(out.status.code(), Some(1), "{out:#?}");
    assert!(out.stdout.contains("e: stays on"), "{out:#?}");
    let out = durable.run(["upgrade", "a", "--to", &v1_digest[..20]]);
    assert!(
        out.ok()
            .contains(&format!("a: moved from {v2_digest} to {v1_digest}")),
        "{out:#?}"
    );
    let remote = |args: &[&str]| {
        let mut all = vec!["--url", url.as_str()];
        all.extend_from_slice(args);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let out = durable.run(&all);
            if !out.stderr.contains("cannot reach the server") || Instant::now() > deadline {
                return out;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let out = remote(&["upgrade", "--all", "--json"]);
    let reports: Vec<Value> = serde_json::from_str(out.ok()).expect("JSON");
    let outcome = |id: &str| {
        reports
            .iter()
            .find(|r| r["instanceId"] == id)
            .map(|r| r["outcome"].as_str().unwrap().to_owned())
    };
    assert_eq!(outcome("a").as_deref(), Some("moved"), "{reports:#?}");
    assert_eq!(
        outcome("b").as_deref(),
        Some("alreadyThere"),
        "{reports:#?}"
    );
    assert_eq!(outcome("e").as_deref(), Some("stays"), "{reports:#?}");
    let out = remote(&["upgrade", "nope"]);
    assert!(out.err().contains("no instance with id `nope`"), "{out:#?}");
    assert_eq!(component_of("a"), v2_digest);

    // Approved, each finishes on the code it runs on: a and b tell the requester (version 2),
    // e does not and keeps its reminder timer (the rewrite).
    for id in ["a", "b", "e"] {
        durable
            .run(["raise-event", id, "Approval", "--data", "true"])
            .ok();
    }
    for id in ["a", "b", "e"] {
        let waited = durable.run(["wait", id, "--timeout", "60"]);
        let status: Value = serde_json::from_str(waited.ok()).expect("JSON");
        assert_eq!(status["runtimeStatus"], "Completed", "{id}: {status}");
        assert_eq!(status["output"], "approved", "{id}: {status}");
        let history: Vec<Value> =
            serde_json::from_str(durable.run(["history", id, "--json"]).ok()).unwrap();
        let notified = history
            .iter()
            .any(|e| e["type"] == "TaskScheduled" && e["name"] == "notify_requester");
        assert_eq!(notified, id != "e", "{id}: {history:#?}");
        let upgrades = count_json(&history, "ExecutionUpgraded");
        assert_eq!(
            upgrades,
            if id == "a" { 3 } else { (id == "b").into() },
            "{id}"
        );
    }

    // Retired, version 2 and the rewrite take no new instances: starts go back to version 1.
    for digest in [&v2_digest, &reminder_digest] {
        let out = durable.run(["retire", &digest[..16]]);
        assert!(
            out.ok().contains(&format!(
                "retired {digest}: it takes no new instances; the 0 unfinished instances"
            )),
            "{out:#?}"
        );
    }
    durable
        .run(["start", "approval_workflow", "--id", "f"])
        .ok();
    waiting("f");
    assert_eq!(component_of("f"), v1_digest);
    // Retiring the last offer of an orchestrator says so; its pinned instance carries on, and
    // gc deletes only what nothing needs: the retired components whose instances all finished.
    let out = durable.run(["retire", &v1_digest]);
    assert!(
        out.ok().contains(
            "the 1 unfinished instances pinned to it finish on it\nno deployment offers \
             approval_workflow any more"
        ),
        "{out:#?}"
    );
    let out = durable.run(["start", "approval_workflow", "--id", "g"]);
    assert!(out.err().contains("approval_workflow"), "{out:#?}");
    let listed: Value =
        serde_json::from_str(durable.run(["deployments", "--json"]).ok()).expect("JSON");
    let states: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["retired", "retired", "retired"], "{listed:#}");
    let out = durable.run(["gc", "--grace", "0"]);
    let text = out.ok();
    assert!(text.contains(&format!("deleted {v2_digest}")), "{out:#?}");
    assert!(
        text.contains(&format!("deleted {reminder_digest}")),
        "{out:#?}"
    );
    assert!(
        text.contains("2 components deleted; 1 retired components kept"),
        "{out:#?}"
    );
    durable
        .run(["raise-event", "f", "Approval", "--data", "false"])
        .ok();
    let waited: Value =
        serde_json::from_str(durable.run(["wait", "f", "--timeout", "60"]).ok()).unwrap();
    assert_eq!(waited["output"], "rejected", "{waited}");
    let out = durable.run(["gc", "--grace", "0", "--dry-run"]);
    assert!(
        out.ok().contains(&format!("would delete {v1_digest}")),
        "{out:#?}"
    );
}

/// Deployments labelled with versions: a start asks for one (locally and over `--url`) and the
/// instance is pinned to it even when a newer deployment offers the orchestrator; the code
/// reads its version with `ctx.version()`, as do its sub-orchestrations and the execution after
/// a continue-as-new.
#[test]
fn a_start_names_a_version_and_the_code_reads_it() {
    let durable = Durable::new();
    let v1 = guest("human-interaction");
    let v2 = guest("human-interaction-v2");
    let probe = guest("probe");
    for (component, version) in [(&v1, "1.0"), (&v2, "2.0"), (&probe, "7")] {
        durable
            .run([
                OsStr::new("deploy"),
                OsStr::new("--component"),
                component.as_os_str(),
                OsStr::new("--version"),
                OsStr::new(version),
            ])
            .ok();
    }
    let component_of = |id: &str| -> String {
        let status: Value = serde_json::from_str(durable.run(["status", id]).ok()).unwrap();
        status["component"].as_str().unwrap().to_owned()
    };
    durable
        .run([
            "start",
            "approval_workflow",
            "--id",
            "old",
            "--version",
            "1.0",
        ])
        .ok();
    durable
        .run(["start", "approval_workflow", "--id", "new"])
        .ok();
    assert_eq!(component_of("old"), digest_of(&std::fs::read(&v1).unwrap()));
    assert_eq!(component_of("new"), digest_of(&std::fs::read(&v2).unwrap()));
    let out = durable.run(["start", "approval_workflow", "--version", "3.0"]);
    assert!(
        out.err().contains(
            "no deployment of version `3.0` offers orchestrator `approval_workflow`; the \
             versions offering it: 1.0, 2.0"
        ),
        "{out:#?}"
    );
    let listed = durable.run(["deployments"]);
    assert!(listed.ok().contains("  version: 2.0"), "{listed:#?}");

    let (_serve, url) = serve_http(&durable);
    let input = r#"{"sub": true, "again": true}"#;
    durable
        .run(["start", "report_version", "--id", "r", "--input", input])
        .ok();
    let deadline = Instant::now() + Duration::from_secs(60);
    let started = loop {
        let out = durable.run([
            "--url",
            &url,
            "start",
            "report_version",
            "--id",
            "remote",
            "--version",
            "7",
        ]);
        if out.status.success() || Instant::now() > deadline {
            break out;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    started.ok();
    for id in ["r", "remote"] {
        let waited: Value =
            serde_json::from_str(durable.run(["wait", id, "--timeout", "60"]).ok()).unwrap();
        assert_eq!(waited["runtimeStatus"], "Completed", "{waited}");
        let expected = match id {
            "r" => serde_json::json!({"version": "7", "child": {"version": "7", "child": null}}),
            _ => serde_json::json!({"version": "7", "child": null}),
        };
        assert_eq!(waited["output"], expected, "{id}: {waited}");
    }
    let out = durable.run(["--url", &url, "start", "report_version", "--version", "8"]);
    assert!(out.err().contains("HTTP 400"), "{out:#?}");
}

per_language!(the_code_reads_the_version_it_started_as: rust, python, js);

/// `ctx.version()`, `context.version`, `context.df.version`: the label of the deployment the
/// instance started on, in every SDK; none when unlabelled.
async fn the_code_reads_the_version_it_started_as(lang: Lang) {
    let component = read(&lang.conformance_guest());
    let mut t = TestHost::new();
    t.deploy_component(&component).await;
    t.run();
    let unlabelled = t.start("report_version", "null").await;
    assert_eq!(output(&t.finish(&unlabelled).await), Value::Null);
    t.deploy_version(&component, "5.1").await;
    let labelled = t.start("report_version", "null").await;
    assert_eq!(output(&t.finish(&labelled).await), "5.1");
}

per_language!(a_waiting_instance_moves_to_version_2_and_finishes_there: rust, python);

/// The worked example of docs/versioning.md in each language: an instance of version 1 of the
/// approval example waits for its approval; version 2 (which tells the requester the decision)
/// is deployed and the instance moved to it (`Host::upgrade`); approved, it finishes on version
/// 2.
async fn a_waiting_instance_moves_to_version_2_and_finishes_there(lang: Lang) {
    let v1 = read(&lang.example("human_interaction"));
    let v2 = match lang {
        Lang::Rust => read(&guest("human-interaction-v2")),
        _ => read(&lang.example("human_interaction_v2")),
    };
    let mut t = TestHost::new();
    t.deploy_component(&v1).await;
    t.run();
    let id = t.start("approval_workflow", "null").await;
    t.history_until(&id, |h| has(h, "TimerCreated")).await;
    t.deploy_component(&v2).await;
    let moved = t
        .host
        .upgrade(Instances::Ids(vec![id.clone()]), Target::Newest)
        .await
        .unwrap();
    let to = digest_of(&v2);
    assert_eq!(
        moved,
        [(
            id.clone(),
            Upgrade::Moved {
                from: digest_of(&v1),
                to: to.clone()
            }
        )]
    );
    t.client()
        .raise_event(&id, "Approval", "true")
        .await
        .unwrap();
    let done = t.finish(&id).await;
    assert_eq!(output(&done), "approved");
    assert_eq!(done.digest, to);
    let history = t.store.history(&id).await.unwrap();
    assert_eq!(count(&history, "ExecutionUpgraded"), 1);
    assert!(
        history.iter().any(|e| matches!(&e.kind,
            EventKind::TaskScheduled { name, .. } if name == "notify_requester")),
        "{history:#?}"
    );
}
