//! A history recorded by one component replayed against a changed one.

use crate::process::Durable;
use crate::support::*;
use durable_host::engine::{
    ColdReplay, ColdReplayError, Execution, cold_replay, cold_replay_chunks,
};
use durable_host::host::ReplayError;
use durable_host::replay::execution_ids;
use durable_host::store::StoreError;
use durable_host::types::{Action, HistoryEvent, RuntimeStatus};
use durable_host::wasm::WasmRuntime;
use durable_host::wasm::digest_of;
use durable_host::wasm::sandbox::GuestLimits;
use std::ffi::OsStr;

/// The history of a `hello_sequence` run to completion, and its stopped host.
async fn hello_sequence_history() -> (TestHost, Vec<HistoryEvent>) {
    let mut t = TestHost::running(&["hello-sequence"]).await;
    let id = t.start("hello_sequence", "null").await;
    assert_eq!(t.finish(&id).await.status, RuntimeStatus::Completed);
    let history = t.client().history(&id).await.unwrap();
    t.stop().await;
    (t, history)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_orchestrator_fails_with_a_message_naming_both_sides() {
    let (t, history) = hello_sequence_history().await;

    // The same history replays cleanly against the component that wrote it...
    let same = t
        .host
        .replay_history(&guest_bytes("hello-sequence"), "hello_sequence", &history)
        .await;
    assert!(same.is_ok(), "{same:?}");

    // ...and not against the probe's changed copy, which says goodbye first.
    let replayed = t
        .host
        .replay_history(&guest_bytes("probe"), "hello_sequence", &history)
        .await;
    let Err(ReplayError::Failed(failure)) = replayed else {
        panic!("expected nondeterminism: {replayed:?}");
    };
    assert_eq!(failure.error_type, "NonDeterminism");
    assert_eq!(
        failure.message,
        "step 0: code scheduled activity `say_goodbye`, history has activity `say_hello`"
    );
    assert!(failure.non_retriable);
}

/// The engine's cold replay, fed the history in chunks as the store reads it, ends as a
/// replay of the whole history does however the history is cut: cleanly against the
/// component that wrote it, with the same divergence against a changed one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_history_replayed_as_it_is_read_ends_as_a_whole_one() {
    let (_, history) = hello_sequence_history().await;
    let (instance_id, execution_id) =
        execution_ids(history.iter().map(|e| &e.kind)).expect("an ExecutionStarted");
    let execution = Execution {
        orchestrator: "hello_sequence",
        instance_id: &instance_id,
        execution_id: &execution_id,
    };
    // The events replayed, or the failure.
    let outcome = |replayed: Result<ColdReplay, ColdReplayError>| match replayed {
        Ok(replayed) => Ok(replayed.state.history_len()),
        Err(ColdReplayError::Failed { failure, .. }) => {
            Err(format!("{}: {}", failure.error_type, failure.message))
        }
        Err(ColdReplayError::Engine(e)) => panic!("{e}"),
    };
    let wasm = WasmRuntime::new(None, GuestLimits::default(), 0).unwrap();
    for guest in ["hello-sequence", "probe"] {
        let component = wasm.load(&guest_bytes(guest)).await.unwrap();
        // What the guest decided at each turn it was fed.
        let mut turns = Vec::new();
        let on_turn = |actions: &[Action]| turns.push(actions.to_vec());
        let whole = outcome(cold_replay(&wasm, &component, execution, &history, on_turn).await);
        match guest {
            "probe" => assert!(
                whole
                    .as_ref()
                    .is_err_and(|e| e.starts_with("NonDeterminism: step 0")),
                "{whole:?}"
            ),
            _ => assert_eq!(whole, Ok(history.len() as u32)),
        }
        for size in [1, 2, 5, history.len()] {
            let (tx, chunks) = tokio::sync::mpsc::unbounded_channel();
            for chunk in history.chunks(size) {
                tx.send(Ok(chunk.to_vec())).unwrap();
            }
            drop(tx);
            let mut fed = Vec::new();
            let on_turn = |actions: &[Action]| fed.push(actions.to_vec());
            let read = cold_replay_chunks(&wasm, &component, execution, chunks, on_turn).await;
            assert_eq!(outcome(read), whole, "{guest}, chunks of {size}");
            // Fed the same turns: a whole history checks as it goes, so it stops at the
            // divergence; one read in chunks checks at the end, so it may go further.
            assert_eq!(fed[..turns.len()], turns[..], "{guest}, chunks of {size}");
        }
        // A read that fails partway fails the replay, as a read error: the turn is retried,
        // and the first chunks are never taken for the whole history.
        let (tx, chunks) = tokio::sync::mpsc::unbounded_channel();
        tx.send(Ok(history[..2].to_vec())).unwrap();
        tx.send(Err(StoreError::Backend("the read failed".into())))
            .unwrap();
        let read = cold_replay_chunks(&wasm, &component, execution, chunks, |_| {}).await;
        assert!(
            matches!(&read, Err(ColdReplayError::Engine(e)) if e.to_string().contains("the read failed")),
            "{guest}: {:?}",
            read.as_ref().err()
        );
    }
}

/// `durable replay --db`: the histories stored in a database replayed against a component, as
/// a pipeline would before deploying it: exit 0 when every chosen instance replays, exit 1 with
/// the instance and its first divergence when one does not. `deploy --verify` runs the same
/// check and `--require-compatible` refuses; `durable deployments` shows where instances run.
#[test]
fn stored_histories_gate_a_deploy_and_deployments_show_the_pinning() {
    let durable = Durable::new();
    let hello = guest("hello-sequence");
    let changed = guest("probe");
    let replay = |component: &std::path::Path, extra: &[&str]| {
        let mut args = vec![
            OsStr::new("replay"),
            OsStr::new("--component"),
            component.as_os_str(),
        ];
        args.extend(extra.iter().map(OsStr::new));
        durable.run(args)
    };
    let out = replay(&hello, &[]);
    assert!(
        out.err().contains("there is no database at"),
        "no database is made up: {out:#?}"
    );

    let run = durable.run([
        OsStr::new("run"),
        OsStr::new("--component"),
        hello.as_os_str(),
        OsStr::new("--id"),
        OsStr::new("done-1"),
    ]);
    run.ok();
    durable
        .run(["start", "hello_sequence", "--id", "waiting-1"])
        .ok();

    let out = replay(&hello, &[]);
    assert!(
        out.ok()
            .contains("1 unfinished instances replayed against sha256:"),
        "{out:#?}"
    );
    assert!(
        out.stdout.contains("0 compatible, 1 not started yet"),
        "{out:#?}"
    );
    let out = replay(&hello, &["--since", "0"]);
    assert!(
        out.ok().contains("1 compatible, 1 not started yet"),
        "the finished instance too: {out:#?}"
    );
    // The changed code agrees with the unfinished instance (nothing recorded yet) and not
    // with the finished one.
    assert!(replay(&changed, &[]).ok().contains("1 not started yet"));
    let out = replay(&changed, &["--since", "0"]);
    assert_eq!(out.status.code(), Some(1), "{out:#?}");
    assert!(
        out.stdout.contains(
            "done-1 (hello_sequence, Completed): NonDeterminism: step 0: code scheduled \
             activity `say_goodbye`, history has activity `say_hello`"
        ),
        "{out:#?}"
    );
    let out = replay(&hello, &["--orchestrator", "nope"]);
    assert!(
        out.err().contains("does not offer the orchestrator `nope`"),
        "{out:#?}"
    );

    // `deploy --verify --require-compatible` refuses the changed code and changes nothing...
    let deploy = |extra: &[&str]| {
        let mut args = vec![
            OsStr::new("deploy"),
            OsStr::new("--component"),
            changed.as_os_str(),
            OsStr::new("--verify"),
            OsStr::new("--since"),
            OsStr::new("0"),
        ];
        args.extend(extra.iter().map(OsStr::new));
        durable.run(args)
    };
    let refused = deploy(&["--require-compatible"]);
    assert!(
        refused
            .err()
            .contains("not deployed: 1 instances do not replay against"),
        "{refused:#?}"
    );
    assert!(
        refused
            .stdout
            .contains("done-1 (hello_sequence, Completed): NonDeterminism: step 0:")
            && refused
                .stdout
                .contains("0 compatible, 1 incompatible, 0 failed to replay, 1 not started yet"),
        "{refused:#?}"
    );
    let pinned = |id: &str| {
        durable.run(["start", "hello_sequence", "--id", id]).ok();
        let status: serde_json::Value =
            serde_json::from_str(durable.run(["status", id]).ok()).expect("status is JSON");
        status["component"].as_str().expect("a digest").to_owned()
    };
    let hello_digest = digest_of(&std::fs::read(&hello).unwrap());
    assert_eq!(pinned("after-refusal"), hello_digest);
    // ...and without it deploys after the report: new instances start on the changed code.
    let deployed = deploy(&[]);
    assert!(deployed.ok().contains("1 incompatible"), "{deployed:#?}");
    let changed_digest = digest_of(&std::fs::read(&changed).unwrap());
    assert_eq!(pinned("after-deploy"), changed_digest);

    // `durable deployments`: the changed code is the newest offer of `hello_sequence`; the first
    // keeps the unfinished instances started on it.
    let listed = durable.run(["deployments", "--json"]);
    let listed: serde_json::Value = serde_json::from_str(listed.ok()).expect("JSON");
    let summary: Vec<_> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["digest"].as_str().unwrap(),
                d["pinnedInstances"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [(changed_digest.as_str(), 1), (hello_digest.as_str(), 2)],
        "newest first; waiting-1 and after-refusal run the first, after-deploy the second"
    );
    assert!(
        listed[0]["newestFor"]
            .as_array()
            .unwrap()
            .contains(&"hello_sequence".into())
    );
    let text = durable.run(["deployments"]);
    assert!(
        text.ok()
            .contains(&format!("{changed_digest}  current  deployed ")),
        "{text:#?}"
    );

    // Served, each instance runs the code it is pinned to: those started before the changed
    // code was deployed say hello first, the one started after it says goodbye first.
    let mut serve = durable.serve("serve.log", ["--poll-ms", "20"]);
    for (id, first) in [
        ("waiting-1", "Hello Tokyo!"),
        ("after-refusal", "Hello Tokyo!"),
        ("after-deploy", "Goodbye Tokyo!"),
    ] {
        let waited = durable.run(["wait", id, "--timeout", "60"]);
        let status: serde_json::Value = serde_json::from_str(waited.ok()).expect("JSON");
        assert_eq!(status["runtimeStatus"], "Completed", "{id}: {status}");
        assert_eq!(status["output"][0], first, "{id}: {status}");
    }
    serve.stop();
}
