//! The web dashboard in a real browser: headless Chromium driven through WebDriver
//! (chromedriver, with the `fantoccini` client) against a real `durable serve` with API keys.
//! It signs in through the page's form, lists and filters instances, opens one, sees its
//! timeline and logs, raises the event it waits for through the page, and sees it complete.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`scripts/test.sh` installs them when
//! missing; `CHROMEDRIVER` names another driver binary).

use crate::process::{Durable, free_port};
use crate::support::Lang;
use durable_host::http::BASE_PATH;
use fantoccini::{Client, ClientBuilder, Locator};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const KEY: &str = "dashboard-key";

/// A chromedriver process, killed on drop.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    fn start() -> Driver {
        let binary = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into());
        let port = free_port();
        let child = Command::new(&binary)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run {binary} ({e}): install Debian's chromium and chromium-driver")
            });
        let addr = format!("127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(&addr).is_err() {
            assert!(Instant::now() < deadline, "chromedriver never listened");
            std::thread::sleep(Duration::from_millis(20));
        }
        Driver {
            child,
            url: format!("http://{addr}"),
        }
    }

    async fn browser(&self) -> Client {
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1400,1000"],
            }),
        );
        ClientBuilder::native()
            .capabilities(caps)
            .connect(&self.url)
            .await
            .expect("a headless Chromium session")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits (bounded) until the element `css` exists and its text satisfies `done`; returns it.
async fn text_until(browser: &Client, css: &str, done: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = String::new();
    loop {
        if let Ok(element) = browser.find(Locator::Css(css)).await
            && let Ok(text) = element.text().await
        {
            if done(&text) {
                return text;
            }
            last = text;
        }
        assert!(
            Instant::now() < deadline,
            "`{css}` never showed what was expected; last text: {last:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The instance ids of the rows the instances table shows, once it shows `expected` of them.
async fn rows_until(browser: &Client, expected: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let rows = browser
            .find_all(Locator::Css("#instances tr[data-instance-id]"))
            .await
            .unwrap_or_default();
        let mut ids = Vec::new();
        for row in &rows {
            if let Ok(Some(id)) = row.attr("data-instance-id").await {
                ids.push(id);
            }
        }
        if ids.len() == expected {
            ids.sort();
            return ids;
        }
        assert!(
            Instant::now() < deadline,
            "the table never showed {expected} rows: {ids:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The element `css`, once it exists (bounded).
async fn element(browser: &Client, css: &str) -> fantoccini::elements::Element {
    browser
        .wait()
        .at_most(Duration::from_secs(30))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no `{css}`: {e}"))
}

async fn click(browser: &Client, css: &str) {
    element(browser, css)
        .await
        .click()
        .await
        .unwrap_or_else(|e| panic!("cannot click `{css}`: {e}"));
}

async fn select(browser: &Client, css: &str, value: &str) {
    element(browser, css)
        .await
        .select_by_value(value)
        .await
        .unwrap_or_else(|e| panic!("cannot select {value:?} in `{css}`: {e}"));
}

async fn type_into(browser: &Client, css: &str, text: &str) {
    let field = element(browser, css).await;
    field.clear().await.unwrap();
    field.send_keys(text).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_finds_an_instance_and_raises_its_event_in_the_browser() {
    let durable = Durable::new();
    let approval = Lang::Rust.example("human_interaction");
    let chain = Lang::Rust.example("hello_sequence");
    // The orders deployment belongs to the app `shop`.
    let orders = format!("shop={}", Lang::Rust.example("sub_orchestration").display());
    let (mut serve, origin) = durable.serve_listening(
        "serve.log",
        [
            "--component",
            approval.to_str().unwrap(),
            "--component",
            chain.to_str().unwrap(),
            "--component",
            &orders,
            "--api-key",
            KEY,
        ],
    );
    let http = reqwest::Client::new();
    let start = |name: &str, id: &str, input: serde_json::Value| {
        let request = http
            .post(format!("{origin}{BASE_PATH}/orchestrators/{name}/{id}"))
            .header("x-functions-key", KEY)
            .json(&input);
        async move {
            let response = request.send().await.expect("start");
            assert_eq!(response.status(), 202);
        }
    };
    start("hello_sequence", "chain-1", serde_json::Value::Null).await;
    start("hello_sequence", "chain-2", serde_json::Value::Null).await;
    start(
        "approval_workflow",
        "approve-1",
        serde_json::json!({ "timeout_secs": 3600 }),
    )
    .await;

    let driver = Driver::start();
    let browser = driver.browser().await;
    browser.goto(&format!("{origin}/")).await.unwrap();

    // Signing in: a wrong key is refused, the right one shows the instances.
    type_into(&browser, "#login-key", "not-the-key").await;
    click(&browser, "#login-submit").await;
    text_until(&browser, "body", |t| t.contains("not accepted")).await;
    type_into(&browser, "#login-key", KEY).await;
    click(&browser, "#login-submit").await;
    let all = rows_until(&browser, 3).await;
    assert_eq!(all, ["approve-1", "chain-1", "chain-2"]);

    // Filtering by status and by name.
    select(&browser, "#filter-status", "Running").await;
    click(&browser, "#filter-apply").await;
    assert_eq!(rows_until(&browser, 1).await, ["approve-1"]);
    select(&browser, "#filter-status", "").await;
    type_into(&browser, "#filter-name", "hello_sequence").await;
    click(&browser, "#filter-apply").await;
    assert_eq!(rows_until(&browser, 2).await, ["chain-1", "chain-2"]);
    type_into(&browser, "#filter-name", "").await;
    click(&browser, "#filter-apply").await;
    rows_until(&browser, 3).await;

    // The waiting instance: its status, its timeline and its logs.
    click(&browser, r#"#instances tr[data-instance-id="approve-1"]"#).await;
    text_until(&browser, "#instance-status", |t| t == "Running").await;
    text_until(&browser, "#timeline", |t| {
        t.contains("request_approval") && t.to_lowercase().contains("timer")
    })
    .await;
    let items = browser
        .find_all(Locator::Css(
            "#timeline .timeline-item[data-kind=\"activity\"]",
        ))
        .await
        .unwrap();
    assert!(!items.is_empty(), "the activity is on the timeline");
    text_until(&browser, "#instance-logs", |t| {
        t.contains("approval requested for approve-1")
    })
    .await;

    // Raising the event it waits for, through the page: it completes without a reload.
    type_into(&browser, "#raise-name", "Approval").await;
    type_into(&browser, "#raise-data", "true").await;
    click(&browser, "#raise-submit").await;
    click(&browser, "#confirm-ok").await;
    text_until(&browser, "#instance-status", |t| t == "Completed").await;
    text_until(&browser, "#instance-output", |t| t.contains("approved")).await;
    text_until(&browser, "#timeline", |t| {
        t.contains("Approval") && t.contains("process_approval")
    })
    .await;
    if let Ok(path) = std::env::var("DURABLE_DASHBOARD_SCREENSHOT") {
        let png = browser.screenshot().await.expect("a screenshot");
        std::fs::write(&path, png).expect("writing the screenshot");
    }

    // The replay view steps through its turns.
    browser
        .goto(&format!("{origin}/#/instances/approve-1/replay"))
        .await
        .unwrap();
    text_until(&browser, "#turn-label", |t| t.contains("Turn 1 of")).await;
    click(&browser, "#turn-next").await;
    text_until(&browser, "#turn-label", |t| t.contains("Turn 2 of")).await;

    // An order's page shows the sub-orchestrations it started.
    start(
        "process_order",
        "order-1",
        serde_json::json!({ "items": [{ "sku": "a", "quantity": 1 }, { "sku": "b", "quantity": 2 }] }),
    )
    .await;
    browser
        .goto(&format!("{origin}/#/instances/order-1"))
        .await
        .unwrap();
    text_until(&browser, "#instance-status", |t| t == "Completed").await;
    text_until(&browser, "#instance-children", |t| {
        t.contains("order-1:0") && t.contains("order-1:1") && t.contains("ship_item")
    })
    .await;
    let children = browser
        .find_all(Locator::Css("#instance-children tr[data-instance-id]"))
        .await
        .unwrap();
    assert_eq!(children.len(), 2);

    // The deployments page names each deployment's app.
    browser
        .goto(&format!("{origin}/#/deployments"))
        .await
        .unwrap();
    text_until(&browser, "#deployments td.app", |t| t == "shop").await;

    // What the page showed is what the API says.
    let status: serde_json::Value = http
        .get(format!("{origin}{BASE_PATH}/instances/approve-1"))
        .header("x-functions-key", KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["runtimeStatus"], "Completed");
    assert_eq!(status["output"], "approved");
    browser.close().await.unwrap();
    serve.assert_running();
}
