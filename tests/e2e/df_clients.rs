//! The official Durable Functions SDK clients against a real `durable serve`: the Python
//! client (`azure-functions-durable`, PyPI) and the JavaScript one (`durable-functions`, npm),
//! built from a client binding that points at the server, as a Functions host would hand it to
//! a client function. Each runs a driver script (`tests/df-clients/`) through every method the
//! client has; the script checks each answer and exits non-zero naming the first mismatch.
//!
//! The clients are installed, pinned, by `scripts/df-clients.sh` (which `scripts/test.sh`
//! runs), which prints the two variables these tests read.

use crate::process::{Durable, Outcome, Serve};
use crate::support::{guest, workspace_root};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::Command;

/// The path in environment variable `var`, set by `scripts/df-clients.sh`.
pub(crate) fn installed(var: &str) -> PathBuf {
    let path = std::env::var_os(var).map(PathBuf::from).unwrap_or_else(|| {
        panic!(
            "{var} is not set: the Durable Functions clients are installed by \
             scripts/df-clients.sh; run `eval \"$(scripts/df-clients.sh)\"` before \
             `cargo test` (scripts/test.sh does)"
        )
    });
    assert!(
        path.exists(),
        "{var}={} does not exist: run `eval \"$(scripts/df-clients.sh)\"` again",
        path.display()
    );
    path
}

/// The client binding the Functions host gives a client function, for a server at `origin`
/// (`http://127.0.0.1:7071`): the webhook URLs with their placeholders, and `rpcBaseUrl`,
/// which the SDK clients call.
fn client_binding(origin: &str) -> Value {
    let webhooks = format!("{origin}{}", durable_host::http::BASE_PATH);
    let instance = format!("{webhooks}/instances/INSTANCEID");
    let start = format!("{webhooks}/orchestrators/{{functionName}}[/{{instanceId}}]");
    json!({
        "taskHubName": "durable",
        "creationUrls": {
            "createNewInstancePostUri": start,
            "createAndWaitOnNewInstancePostUri":
                format!("{start}?timeout={{timeoutInSeconds}}&pollingInterval={{intervalInSeconds}}"),
        },
        "managementUrls": {
            "id": "INSTANCEID",
            "statusQueryGetUri": instance,
            "sendEventPostUri": format!("{instance}/raiseEvent/{{eventName}}"),
            "terminatePostUri": format!("{instance}/terminate?reason={{text}}"),
            "rewindPostUri": format!("{instance}/rewind?reason={{text}}"),
            "purgeHistoryDeleteUri": instance,
            "restartPostUri": format!("{instance}/restart"),
            "suspendPostUri": format!("{instance}/suspend?reason={{text}}"),
            "resumePostUri": format!("{instance}/resume?reason={{text}}"),
        },
        "baseUrl": webhooks,
        "requiredQueryStringParameters": "",
        "rpcBaseUrl": format!("{origin}{}/", durable_host::http::RPC_BASE_PATH),
    })
}

/// `durable serve` with the probe guest, its `/data` directory in the temporary directory,
/// answering on a local port once this returns.
fn serve_probe(durable: &Durable) -> (Serve, String) {
    let data = durable.path("data");
    std::fs::create_dir(&data).expect("creating the data directory");
    let dir = format!("{}::/data", data.display());
    let component = guest("probe");
    durable.serve_listening(
        "serve.log",
        [
            "--component",
            component.to_str().expect("a UTF-8 path"),
            "--dir",
            dir.as_str(),
            "--env",
            "SLOW_STEP_MS=0",
        ],
    )
}

/// Runs a driver script (`command` plus the script in `tests/df-clients/`) against a fresh
/// `durable serve`; fails with the script's output and the server's log unless it passes.
fn drive(mut command: Command, script: &str) {
    let durable = Durable::new();
    let (mut serve, origin) = serve_probe(&durable);
    let binding = client_binding(&origin).to_string();
    command
        .arg(workspace_root().join("tests/df-clients").join(script))
        .env("DF_CLIENT_BINDING", binding)
        .env("DF_FLAG_FILE", durable.path("data").join("flag"));
    let outcome = Outcome::of(&mut command);
    serve.assert_running();
    assert!(
        outcome.status.success(),
        "{script} failed ({}):\n--- stdout\n{}--- stderr\n{}--- durable serve log\n{}",
        outcome.status,
        outcome.stdout,
        outcome.stderr,
        serve.log_text()
    );
    eprint!("{}", outcome.stdout);
}

#[test]
fn the_python_client_drives_durable_serve() {
    let python = installed("DURABLE_DF_PYTHON");
    drive(Command::new(python), "python_client.py");
}

#[test]
fn the_javascript_client_drives_durable_serve() {
    let node_path = installed("DURABLE_DF_NODE_PATH");
    let mut node = Command::new("node");
    node.env("NODE_PATH", node_path);
    drive(node, "js_client.js");
}
