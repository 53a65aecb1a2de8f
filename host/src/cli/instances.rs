//! The instance commands (start, status, wait, history, raise-event, terminate, suspend,
//! resume, rewind, restart, purge, list) on one trait, [`InstanceOps`], with two
//! implementations: [`Local`] opens the database, [`Remote`] drives a running
//! `durable serve` through its HTTP API (`--url`). Both print through [`super::output`], so a
//! command prints the same whichever way it went.

use super::output::{self, InstanceView};
use anyhow::{Context as _, bail};
use durable_host::client::{Client, StartRequest};
use durable_host::http::payload::parse_history;
use durable_host::http::{encode, time};
use durable_host::store::InstanceFilter;
use durable_host::types::{Failure, HistoryEvent, RuntimeStatus};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::time::{Duration, Instant};

/// The instance commands.
#[derive(Debug, clap::Subcommand)]
pub enum InstanceCommand {
    /// Start an orchestration and print its instance id.
    Start {
        /// Orchestrator name.
        orchestrator: String,
        /// Input as JSON.
        #[arg(long, default_value = "null")]
        input: String,
        /// Instance id (default: a new unique id).
        #[arg(long)]
        id: Option<String>,
        /// Start on the newest deployment labelled with this version (`deploy --version`);
        /// the instance runs as that version.
        #[arg(long)]
        version: Option<String>,
    },
    /// Show an instance's status as JSON.
    Status { id: String },
    /// Wait for an instance to finish, then show its status.
    Wait {
        id: String,
        #[arg(long, default_value_t = 300)]
        timeout: u64,
    },
    /// Show an instance's history.
    History {
        id: String,
        /// Print the events as a JSON array (the format `replay` reads).
        #[arg(long)]
        json: bool,
    },
    /// Send an external event to a running instance.
    RaiseEvent {
        id: String,
        /// Event name.
        name: String,
        /// Event data as JSON.
        #[arg(long, default_value = "null")]
        data: String,
    },
    /// Terminate a running instance.
    Terminate {
        id: String,
        #[arg(long)]
        reason: Option<String>,
        /// Also terminate its unfinished sub-orchestrations.
        #[arg(long)]
        recursive: bool,
    },
    /// Suspend a running instance; events that arrive meanwhile are kept.
    Suspend {
        id: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Resume a suspended instance.
    Resume {
        id: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Rewind a failed instance: its failed activities run again.
    Rewind {
        id: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Start a finished instance again with the same input; prints the id.
    Restart {
        id: String,
        /// Start it under a new id instead of reusing this one.
        #[arg(long)]
        new_id: bool,
    },
    /// Delete finished instances and their history: one by id, or all that
    /// match the filters.
    Purge {
        /// The instance to delete.
        id: Option<String>,
        /// Only these statuses (comma separated; finished ones only).
        #[arg(long, value_delimiter = ',')]
        status: Vec<String>,
        /// Only instances created at or after this time (ms since the epoch).
        #[arg(long)]
        created_from: Option<u64>,
        /// Only instances created at or before this time (ms since the epoch).
        #[arg(long)]
        created_to: Option<u64>,
        /// Only ids starting with this.
        #[arg(long)]
        prefix: Option<String>,
    },
    /// List instances.
    List {
        /// Only these statuses (comma separated, e.g. Running,Failed).
        #[arg(long, value_delimiter = ',')]
        status: Vec<String>,
        /// Only ids starting with this.
        #[arg(long)]
        prefix: Option<String>,
        /// Only instances of this orchestrator.
        #[arg(long)]
        name: Option<String>,
        /// Only instances running on the deployment with this digest (`durable deployments`).
        #[arg(long)]
        digest: Option<String>,
        /// Newest first (default: oldest first).
        #[arg(long)]
        newest_first: bool,
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
}

/// Which instances a purge or a list takes.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub statuses: Vec<RuntimeStatus>,
    pub created_from: Option<u64>,
    pub created_to: Option<u64>,
    pub id_prefix: Option<String>,
    /// Only instances of this orchestrator (lists only).
    pub name: Option<String>,
    /// Only instances running on this deployment (lists only).
    pub digest: Option<String>,
    /// List newest first (lists only).
    pub newest_first: bool,
    pub limit: Option<usize>,
}

/// What the instance commands do, wherever the instances are.
#[async_trait::async_trait]
pub trait InstanceOps: Send + Sync {
    /// Starts an orchestration; returns its instance id.
    async fn start(
        &self,
        orchestrator: &str,
        input: &str,
        id: Option<&str>,
        version: Option<&str>,
    ) -> anyhow::Result<String>;
    async fn status(&self, id: &str) -> anyhow::Result<InstanceView>;
    /// Waits for the instance to finish.
    async fn wait(&self, id: &str, timeout: Duration) -> anyhow::Result<InstanceView>;
    async fn history(&self, id: &str) -> anyhow::Result<Vec<HistoryEvent>>;
    async fn raise_event(&self, id: &str, name: &str, data: &str) -> anyhow::Result<()>;
    async fn terminate(
        &self,
        id: &str,
        reason: Option<&str>,
        recursive: bool,
    ) -> anyhow::Result<()>;
    async fn suspend(&self, id: &str, reason: Option<&str>) -> anyhow::Result<()>;
    async fn resume(&self, id: &str, reason: Option<&str>) -> anyhow::Result<()>;
    async fn rewind(&self, id: &str, reason: Option<&str>) -> anyhow::Result<()>;
    /// Starts a finished instance again; returns the id it runs under.
    async fn restart(&self, id: &str, new_id: bool) -> anyhow::Result<String>;
    /// Deletes one finished instance; returns how many were deleted.
    async fn purge(&self, id: &str) -> anyhow::Result<u64>;
    /// Deletes the finished instances selected; returns how many.
    async fn purge_matching(&self, selection: &Selection) -> anyhow::Result<u64>;
    async fn list(&self, selection: &Selection) -> anyhow::Result<Vec<InstanceView>>;
}

/// Runs an instance command and prints its result.
pub async fn run(ops: &dyn InstanceOps, command: InstanceCommand) -> anyhow::Result<()> {
    use InstanceCommand as Command;
    match command {
        Command::Start {
            orchestrator,
            input,
            id,
            version,
        } => {
            let started = ops.start(&orchestrator, &input, id.as_deref(), version.as_deref());
            println!("{}", started.await?)
        }
        Command::Status { id } => output::print_status(&ops.status(&id).await?)?,
        Command::Wait { id, timeout } => {
            output::print_status(&ops.wait(&id, Duration::from_secs(timeout)).await?)?
        }
        Command::History { id, json } => output::print_history(&ops.history(&id).await?, json)?,
        Command::RaiseEvent { id, name, data } => ops.raise_event(&id, &name, &data).await?,
        Command::Terminate {
            id,
            reason,
            recursive,
        } => ops.terminate(&id, reason.as_deref(), recursive).await?,
        Command::Suspend { id, reason } => ops.suspend(&id, reason.as_deref()).await?,
        Command::Resume { id, reason } => ops.resume(&id, reason.as_deref()).await?,
        Command::Rewind { id, reason } => ops.rewind(&id, reason.as_deref()).await?,
        Command::Restart { id, new_id } => println!("{}", ops.restart(&id, new_id).await?),
        Command::Purge {
            id,
            status,
            created_from,
            created_to,
            prefix,
        } => {
            let selection = Selection {
                statuses: parse_statuses(&status)?,
                created_from,
                created_to,
                id_prefix: prefix,
                ..Default::default()
            };
            let filtered = !status.is_empty()
                || created_from.is_some()
                || created_to.is_some()
                || selection.id_prefix.is_some();
            let deleted = match (id, filtered) {
                (Some(_), true) => bail!("give an instance id or filters, not both"),
                (Some(id), false) => ops.purge(&id).await?,
                (None, false) => bail!(
                    "give an instance id, or filters (--status, --created-from, --created-to, \
                     --prefix) to purge many"
                ),
                (None, true) => ops.purge_matching(&selection).await?,
            };
            println!("{deleted} instances deleted");
        }
        Command::List {
            status,
            prefix,
            name,
            digest,
            newest_first,
            limit,
        } => {
            let selection = Selection {
                statuses: parse_statuses(&status)?,
                id_prefix: prefix,
                name,
                digest,
                newest_first,
                limit: Some(limit),
                ..Default::default()
            };
            output::print_list(&ops.list(&selection).await?);
        }
    }
    Ok(())
}

/// Parses `--status` values, naming the valid ones on a mistake.
pub fn parse_statuses(names: &[String]) -> anyhow::Result<Vec<RuntimeStatus>> {
    names
        .iter()
        .map(|name| {
            RuntimeStatus::parse(name.trim()).with_context(|| {
                format!(
                    "unknown status `{name}`; use one of {}",
                    RuntimeStatus::ALL.map(|s| s.as_str()).join(", ")
                )
            })
        })
        .collect()
}

/// The instances of a database, through a [`Client`].
pub struct Local(pub Client);

#[async_trait::async_trait]
impl InstanceOps for Local {
    async fn start(
        &self,
        orchestrator: &str,
        input: &str,
        id: Option<&str>,
        version: Option<&str>,
    ) -> anyhow::Result<String> {
        let mut request = StartRequest::new(orchestrator).input(input);
        request.instance_id = id.map(str::to_owned);
        request.version = version.map(str::to_owned);
        Ok(self.0.start(request).await?)
    }

    async fn status(&self, id: &str) -> anyhow::Result<InstanceView> {
        Ok(self.0.status(id).await?.into())
    }

    async fn wait(&self, id: &str, timeout: Duration) -> anyhow::Result<InstanceView> {
        Ok(self.0.wait(id, timeout).await?.into())
    }

    async fn history(&self, id: &str) -> anyhow::Result<Vec<HistoryEvent>> {
        Ok(self.0.history(id).await?)
    }

    async fn raise_event(&self, id: &str, name: &str, data: &str) -> anyhow::Result<()> {
        Ok(self.0.raise_event(id, name, data).await?)
    }

    async fn terminate(
        &self,
        id: &str,
        reason: Option<&str>,
        recursive: bool,
    ) -> anyhow::Result<()> {
        Ok(self.0.terminate(id, reason, recursive).await?)
    }

    async fn suspend(&self, id: &str, reason: Option<&str>) -> anyhow::Result<()> {
        Ok(self.0.suspend(id, reason).await?)
    }

    async fn resume(&self, id: &str, reason: Option<&str>) -> anyhow::Result<()> {
        Ok(self.0.resume(id, reason).await?)
    }

    async fn rewind(&self, id: &str, reason: Option<&str>) -> anyhow::Result<()> {
        Ok(self.0.rewind(id, reason).await?)
    }

    async fn restart(&self, id: &str, new_id: bool) -> anyhow::Result<String> {
        Ok(self.0.restart(id, new_id).await?)
    }

    async fn purge(&self, id: &str) -> anyhow::Result<u64> {
        self.0.purge(id).await?;
        Ok(1)
    }

    async fn purge_matching(&self, selection: &Selection) -> anyhow::Result<u64> {
        Ok(self.0.purge_matching(&filter(selection)).await? as u64)
    }

    async fn list(&self, selection: &Selection) -> anyhow::Result<Vec<InstanceView>> {
        let records = self.0.list(&filter(selection)).await?;
        Ok(records.into_iter().map(Into::into).collect())
    }
}

fn filter(selection: &Selection) -> InstanceFilter {
    InstanceFilter {
        statuses: selection.statuses.clone(),
        created_from: selection.created_from,
        created_to: selection.created_to,
        id_prefix: selection.id_prefix.clone(),
        name: selection.name.clone(),
        digest: selection.digest.clone(),
        newest_first: selection.newest_first,
        limit: selection.limit,
        ..Default::default()
    }
}

/// The instances of a running `durable serve`, through `/runtime/webhooks/durabletask`.
pub struct Remote {
    base: String,
    http: reqwest::Client,
    key: Option<String>,
}

/// How often `wait` asks the server.
const WAIT_POLL: Duration = Duration::from_millis(200);

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

    /// A request to `path` (relative to the API's base), carrying the key.
    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let request = self.http.request(method, format!("{}{path}", self.base));
        match &self.key {
            Some(key) => request.header("x-functions-key", key),
            None => request,
        }
    }

    /// What the server says a failed request was about: its JSON `message`, or the body.
    pub fn message(text: &str) -> String {
        serde_json::from_str::<Value>(text)
            .ok()
            .and_then(|v| v["message"].as_str().map(str::to_owned))
            .unwrap_or_else(|| text.to_owned())
    }

    /// One request; a 4xx or 5xx becomes an error with the server's message.
    async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&str>,
    ) -> anyhow::Result<(StatusCode, String)> {
        let mut request = self.request(method, path).query(query);
        if let Some(body) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.to_owned());
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("cannot reach {}", self.base))?;
        let status = response.status();
        let text = response.text().await?;
        if status.is_client_error() || status.is_server_error() {
            bail!("{} (HTTP {})", Remote::message(&text), status.as_u16());
        }
        Ok((status, text))
    }

    async fn json(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&str>,
    ) -> anyhow::Result<Value> {
        let (_, text) = self.call(method, path, query, body).await?;
        serde_json::from_str(&text).with_context(|| format!("the server answered with {text}"))
    }

    async fn post(
        &self,
        path: String,
        query: &[(&str, String)],
        body: Option<&str>,
    ) -> anyhow::Result<Value> {
        let (_, text) = self.call(Method::POST, &path, query, body).await?;
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn status_json(&self, id: &str, history: bool) -> anyhow::Result<Value> {
        let mut query = vec![("showInput", "true".to_owned())];
        if history {
            query.push(("showHistory", "true".to_owned()));
            query.push(("showHistoryOutput", "true".to_owned()));
        }
        let path = format!("/instances/{}", segment(id));
        self.json(Method::GET, &path, &query, None).await
    }
}

/// Encodes one path segment.
pub(super) fn segment(s: &str) -> String {
    encode(s)
}

fn reason(reason: Option<&str>) -> Vec<(&'static str, String)> {
    reason
        .map(|r| vec![("reason", r.to_owned())])
        .unwrap_or_default()
}

#[async_trait::async_trait]
impl InstanceOps for Remote {
    async fn start(
        &self,
        orchestrator: &str,
        input: &str,
        id: Option<&str>,
        version: Option<&str>,
    ) -> anyhow::Result<String> {
        let path = match id {
            Some(id) => format!("/orchestrators/{}/{}", segment(orchestrator), segment(id)),
            None => format!("/orchestrators/{}", segment(orchestrator)),
        };
        let query: Vec<(&str, String)> = version
            .map(|v| vec![("version", v.to_owned())])
            .unwrap_or_default();
        let payload = self.post(path, &query, Some(input)).await?;
        Ok(payload["id"].as_str().unwrap_or_default().to_owned())
    }

    async fn status(&self, id: &str) -> anyhow::Result<InstanceView> {
        view(&self.status_json(id, false).await?)
    }

    async fn wait(&self, id: &str, timeout: Duration) -> anyhow::Result<InstanceView> {
        let deadline = Instant::now() + timeout;
        loop {
            let status = self.status(id).await?;
            if status.status.is_terminal() {
                return Ok(status);
            }
            if Instant::now() >= deadline {
                bail!("instance `{id}` did not finish within {timeout:?}");
            }
            tokio::time::sleep(WAIT_POLL).await;
        }
    }

    async fn history(&self, id: &str) -> anyhow::Result<Vec<HistoryEvent>> {
        let status = self.status_json(id, true).await?;
        let events = status["historyEvents"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        parse_history(&events).map_err(|e| anyhow::anyhow!("the server's history: {e}"))
    }

    async fn raise_event(&self, id: &str, name: &str, data: &str) -> anyhow::Result<()> {
        let path = format!("/instances/{}/raiseEvent/{}", segment(id), segment(name));
        self.post(path, &[], Some(data)).await.map(drop)
    }

    async fn terminate(&self, id: &str, why: Option<&str>, recursive: bool) -> anyhow::Result<()> {
        let mut query = reason(why);
        query.push(("recursive", recursive.to_string()));
        let path = format!("/instances/{}/terminate", segment(id));
        self.post(path, &query, None).await.map(drop)
    }

    async fn suspend(&self, id: &str, why: Option<&str>) -> anyhow::Result<()> {
        let path = format!("/instances/{}/suspend", segment(id));
        self.post(path, &reason(why), None).await.map(drop)
    }

    async fn resume(&self, id: &str, why: Option<&str>) -> anyhow::Result<()> {
        let path = format!("/instances/{}/resume", segment(id));
        self.post(path, &reason(why), None).await.map(drop)
    }

    async fn rewind(&self, id: &str, why: Option<&str>) -> anyhow::Result<()> {
        let path = format!("/instances/{}/rewind", segment(id));
        self.post(path, &reason(why), None).await.map(drop)
    }

    async fn restart(&self, id: &str, new_id: bool) -> anyhow::Result<String> {
        let query = [("restartWithNewInstanceId", new_id.to_string())];
        let path = format!("/instances/{}/restart", segment(id));
        let payload = self.post(path, &query, None).await?;
        Ok(payload["id"].as_str().unwrap_or(id).to_owned())
    }

    async fn purge(&self, id: &str) -> anyhow::Result<u64> {
        let path = format!("/instances/{}", segment(id));
        let deleted = self.json(Method::DELETE, &path, &[], None).await?;
        Ok(deleted["instancesDeleted"].as_u64().unwrap_or(0))
    }

    async fn purge_matching(&self, selection: &Selection) -> anyhow::Result<u64> {
        if selection.id_prefix.is_some() {
            bail!("--prefix is not part of the HTTP purge; purge by id or by time and status");
        }
        let mut query = vec![(
            "createdTimeFrom",
            time::format(selection.created_from.unwrap_or(0)),
        )];
        if let Some(to) = selection.created_to {
            query.push(("createdTimeTo", time::format(to)));
        }
        if !selection.statuses.is_empty() {
            query.push(("runtimeStatus", statuses(&selection.statuses)));
        }
        let deleted = self
            .json(Method::DELETE, "/instances", &query, None)
            .await?;
        Ok(deleted["instancesDeleted"].as_u64().unwrap_or(0))
    }

    async fn list(&self, selection: &Selection) -> anyhow::Result<Vec<InstanceView>> {
        let limit = selection.limit.unwrap_or(100);
        let mut query = vec![("top", limit.min(1000).to_string())];
        if !selection.statuses.is_empty() {
            query.push(("runtimeStatus", statuses(&selection.statuses)));
        }
        if let Some(prefix) = &selection.id_prefix {
            query.push(("instanceIdPrefix", prefix.clone()));
        }
        if let Some(name) = &selection.name {
            query.push(("name", name.clone()));
        }
        if let Some(digest) = &selection.digest {
            query.push(("componentDigest", digest.clone()));
        }
        if selection.newest_first {
            query.push(("newestFirst", "true".to_owned()));
        }
        let listed = self.json(Method::GET, "/instances", &query, None).await?;
        let instances = listed.as_array().cloned().unwrap_or_default();
        instances.iter().take(limit).map(view).collect()
    }
}

fn statuses(statuses: &[RuntimeStatus]) -> String {
    statuses
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

/// An instance from the API's status object. The API gives a failed instance's failure as
/// `failureDetails` (its `output` is the message), and does not name the component.
fn view(status: &Value) -> anyhow::Result<InstanceView> {
    let text = |field: &str| status[field].as_str().unwrap_or_default().to_owned();
    let json = |field: &str| match &status[field] {
        Value::Null => None,
        value => Some(value.to_string()),
    };
    let time = |field: &str| {
        let text = status[field].as_str().unwrap_or_default();
        time::parse(text).with_context(|| format!("the server's `{field}` is not a time: {text}"))
    };
    let state = status["runtimeStatus"].as_str().unwrap_or_default();
    let state = RuntimeStatus::parse(state)
        .with_context(|| format!("the server's status `{state}` is unknown"))?;
    let failure: Option<Failure> = match &status["failureDetails"] {
        Value::Null => None,
        details => Some(serde_json::from_value(details.clone())?),
    };
    let output = match (&failure, state) {
        (Some(_), RuntimeStatus::Failed) => None,
        _ => json("output"),
    };
    Ok(InstanceView {
        instance_id: text("instanceId"),
        name: text("name"),
        status: state,
        input: json("input").unwrap_or_else(|| "null".into()),
        output,
        failure,
        custom_status: json("customStatus"),
        created_at: time("createdTime")?,
        updated_at: time("lastUpdatedTime")?,
        component: None,
    })
}
