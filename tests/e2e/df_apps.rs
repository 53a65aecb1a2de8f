//! Durable Functions apps brought as they are: a JavaScript project written for Azure Functions
//! (`examples/js/df_app`: `package.json` naming `src/functions/*.js`, CommonJS, `require`s of
//! `durable-functions` and `@azure/functions`, an HTTP starter) built by `durable build` with no
//! line changed, served by `durable serve` and driven through its HTTP API.

use crate::process::Durable;
use crate::support::Lang;
use durable_host::http::BASE_PATH;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_durable_functions_javascript_project_builds_and_runs_unchanged() {
    let component = Lang::JavaScript.app("examples/js/df_app", "df_app");
    let durable = Durable::new();
    let (mut serve, origin) =
        durable.serve_listening("serve.log", ["--component", component.to_str().unwrap()]);
    let http = reqwest::Client::new();
    let run = |name: &str, id: &str| {
        let request = http
            .post(format!(
                "{origin}{BASE_PATH}/orchestrators/{name}/{id}?timeout=60"
            ))
            .json(&serde_json::Value::Null);
        async move {
            let response = request.send().await.expect("start and wait");
            assert_eq!(response.status(), 200);
            response
                .json::<serde_json::Value>()
                .await
                .expect("the output")
        }
    };
    assert_eq!(
        run("helloOrchestrator", "hello-1").await,
        json!(["Hello, Tokyo", "Hello, Seattle", "Hello, Cairo"])
    );
    assert_eq!(run("counterOrchestrator", "counter-1").await, json!(7));
    // What the component offers: the orchestrations, activity and entity; not the HTTP starter.
    let deployments: serde_json::Value = http
        .get(format!("{origin}{BASE_PATH}/deployments"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let offers = &deployments[0]["offers"];
    assert_eq!(
        offers["orchestrators"],
        json!(["counterOrchestrator", "helloOrchestrator"])
    );
    assert_eq!(offers["activities"], json!(["hello"]));
    assert_eq!(offers["entities"], json!(["counter"]));
    serve.assert_running();
}
