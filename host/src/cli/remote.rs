//! `--url`: the instance commands over the HTTP management API of a running
//! `durable serve` (local or remote), instead of opening the database.

use super::Command;
use super::output::format_time;
use anyhow::{Context as _, bail};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// A client of `/runtime/webhooks/durabletask` on one server.
pub struct Remote {
    base: String,
    http: reqwest::Client,
    key: Option<String>,
}

impl Remote {
    pub fn new(url: &str, key: Option<String>) -> anyhow::Result<Remote> {
        let url = url.trim_end_matches('/');
        let base = if url.ends_with("/runtime/webhooks/durabletask") {
            url.to_owned()
        } else {
            format!("{url}/runtime/webhooks/durabletask")
        };
        Ok(Remote {
            base,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()?,
            key,
        })
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<String>,
    ) -> anyhow::Result<(StatusCode, reqwest::header::HeaderMap, String)> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .query(query);
        if let Some(key) = &self.key {
            request = request.header("x-functions-key", key);
        }
        if let Some(body) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("cannot reach {}", self.base))?;
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await?;
        if status.is_client_error() || status.is_server_error() {
            let message = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| v["message"].as_str().map(str::to_owned))
                .unwrap_or(text);
            bail!("{message} (HTTP {})", status.as_u16());
        }
        Ok((status, headers, text))
    }

    async fn status(&self, id: &str, history: bool) -> anyhow::Result<Value> {
        let mut query = vec![("showInput", "true".to_owned())];
        if history {
            query.push(("showHistory", "true".to_owned()));
            query.push(("showHistoryOutput", "true".to_owned()));
        }
        let (_, _, text) = self
            .call(
                Method::GET,
                &format!("/instances/{}", seg(id)),
                &query,
                None,
            )
            .await?;
        Ok(serde_json::from_str(&text)?)
    }
}

/// Encodes one path segment.
fn seg(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b':' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn reason(reason: Option<String>) -> Vec<(&'static str, String)> {
    reason.map(|r| vec![("reason", r)]).unwrap_or_default()
}

const FINISHED: [&str; 4] = ["Completed", "Failed", "Canceled", "Terminated"];

/// Runs an instance command against the server; `None` when the command
/// has no HTTP form.
pub async fn run(remote: &Remote, command: Command) -> anyhow::Result<Option<ExitCode>> {
    let post = |path: String, query: Vec<(&'static str, String)>, body: Option<String>| async move {
        remote.call(Method::POST, &path, &query, body).await
    };
    match command {
        Command::Start {
            orchestrator,
            input,
            id,
        } => {
            let path = match id {
                Some(id) => format!("/orchestrators/{}/{}", seg(&orchestrator), seg(&id)),
                None => format!("/orchestrators/{}", seg(&orchestrator)),
            };
            let (_, _, text) = post(path, Vec::new(), Some(input)).await?;
            let payload: Value = serde_json::from_str(&text)?;
            println!("{}", payload["id"].as_str().unwrap_or_default());
        }
        Command::Status { id } => {
            println!(
                "{}",
                serde_json::to_string_pretty(&remote.status(&id, false).await?)?
            );
        }
        Command::Wait { id, timeout } => {
            let deadline = Instant::now() + Duration::from_secs(timeout);
            loop {
                let status = remote.status(&id, false).await?;
                let state = status["runtimeStatus"].as_str().unwrap_or_default();
                if FINISHED.contains(&state) {
                    println!("{}", serde_json::to_string_pretty(&status)?);
                    break;
                }
                if Instant::now() >= deadline {
                    bail!("instance `{id}` did not finish within {timeout} s");
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        Command::History { id, .. } => {
            let status = remote.status(&id, true).await?;
            println!(
                "{}",
                serde_json::to_string_pretty(&status["historyEvents"])?
            );
        }
        Command::RaiseEvent { id, name, data } => {
            let path = format!("/instances/{}/raiseEvent/{}", seg(&id), seg(&name));
            post(path, Vec::new(), Some(data)).await?;
        }
        Command::Terminate {
            id,
            reason: why,
            recursive,
        } => {
            let mut query = reason(why);
            query.push(("recursive", recursive.to_string()));
            post(format!("/instances/{}/terminate", seg(&id)), query, None).await?;
        }
        Command::Suspend { id, reason: why } => {
            post(
                format!("/instances/{}/suspend", seg(&id)),
                reason(why),
                None,
            )
            .await?;
        }
        Command::Resume { id, reason: why } => {
            post(format!("/instances/{}/resume", seg(&id)), reason(why), None).await?;
        }
        Command::Rewind { id, reason: why } => {
            post(format!("/instances/{}/rewind", seg(&id)), reason(why), None).await?;
        }
        Command::Restart { id, new_id } => {
            let query = vec![("restartWithNewInstanceId", new_id.to_string())];
            let (_, _, text) =
                post(format!("/instances/{}/restart", seg(&id)), query, None).await?;
            let payload: Value = serde_json::from_str(&text)?;
            println!("{}", payload["id"].as_str().unwrap_or(&id));
        }
        Command::Purge {
            id,
            status,
            created_from,
            created_to,
            prefix,
        } => {
            let (path, query) = match id {
                Some(id) => (format!("/instances/{}", seg(&id)), Vec::new()),
                None => {
                    if prefix.is_some() {
                        bail!(
                            "--prefix is not part of the HTTP purge; purge by id or by time and status"
                        );
                    }
                    let mut query =
                        vec![("createdTimeFrom", format_time(created_from.unwrap_or(0)))];
                    if let Some(to) = created_to {
                        query.push(("createdTimeTo", format_time(to)));
                    }
                    if !status.is_empty() {
                        query.push(("runtimeStatus", status.join(",")));
                    }
                    ("/instances".to_owned(), query)
                }
            };
            let (_, _, text) = remote.call(Method::DELETE, &path, &query, None).await?;
            let deleted: Value = serde_json::from_str(&text)?;
            println!("{} instances deleted", deleted["instancesDeleted"]);
        }
        Command::List {
            status,
            prefix,
            limit,
        } => {
            let mut query = vec![("top", limit.min(1000).to_string())];
            if !status.is_empty() {
                query.push(("runtimeStatus", status.join(",")));
            }
            if let Some(prefix) = prefix {
                query.push(("instanceIdPrefix", prefix));
            }
            let (_, _, text) = remote.call(Method::GET, "/instances", &query, None).await?;
            let instances: Vec<Value> = serde_json::from_str(&text)?;
            for instance in instances.iter().take(limit) {
                println!(
                    "{:<34} {:<14} {:<24} {}",
                    instance["instanceId"].as_str().unwrap_or_default(),
                    instance["runtimeStatus"].as_str().unwrap_or_default(),
                    instance["name"].as_str().unwrap_or_default(),
                    instance["createdTime"].as_str().unwrap_or_default(),
                );
            }
        }
        _ => return Ok(None),
    }
    Ok(Some(ExitCode::SUCCESS))
}
