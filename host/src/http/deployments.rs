//! Deployments over HTTP (not in Durable Functions, whose code is deployed with the function
//! app):
//!
//! - `GET /deployments`: every stored component, newest first, with what it offers, the names
//!   it is the newest offer of and the unfinished instances pinned to it (as `durable
//!   deployments --json` prints them);
//! - `POST /deployments[?verify=true[&requireCompatible=true][&since=MS]][&version=V][&app=A]`
//!   (body: the component's bytes): deploys it to the host the API serves for, used at once by
//!   every host on the database, labelled with the version and the app (whose grants its
//!   activities run with, [`crate::grants`]) if given; with `verify`, first replays the stored histories of the orchestrators
//!   it offers against it ([`crate::inspect::verify`]) and answers with what it found; with
//!   `requireCompatible`, a component some instance does not replay is refused (409) and
//!   nothing changes; with `upgrade`, once deployed, every unfinished instance of an
//!   orchestrator it offers whose history replays against it moves to it
//!   ([`crate::inspect::upgrade`]). Deploying code over HTTP needs API keys configured (else
//!   403): an open port must not take code;
//! - `POST /instances/{instanceId}/upgrade[?to=DIGEST]`: moves one instance to the newest
//!   deployment offering its orchestrator (or to `to`) if its history replays against it:
//!   200 when it moved or was there already, 409 when it stays (with the first divergence),
//!   has finished or has nowhere to go;
//! - `POST /instances/upgrade[?to=DIGEST]`: the same for every unfinished instance.

use super::request::Params;
use super::{ApiError, ApiState};
use crate::engine::EngineError;
use crate::grants::check_app_name;
use crate::inspect::upgrade::{Instances, Target, Upgrade, UpgradeReport};
use crate::inspect::verify::{Selection, Verdict};
use crate::store::{InstanceRecord, Labels};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// Largest component `POST /deployments` takes (a Python component is about 40 MiB).
pub const BODY_LIMIT: usize = 256 << 20;

pub async fn list(State(state): State<ApiState>) -> Result<Response, ApiError> {
    Ok(Json(state.client.deployments().await?).into_response())
}

pub async fn deploy(
    State(state): State<ApiState>,
    params: Params,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let deployer = match &state.deployer {
        Some(deployer) if !state.config.api_keys.is_empty() => deployer,
        _ => {
            return Err(ApiError::Forbidden(
                "deploying over HTTP needs API keys: start `durable serve` with --api-key \
                 (or deploy with `durable deploy`)"
                    .into(),
            ));
        }
    };
    let bytes = body.map_err(|e| match e.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge(format!(
            "the component is over the {} MiB a deployment takes",
            BODY_LIMIT >> 20
        )),
        _ => ApiError::BadRequest(format!("cannot read the component: {e}")),
    })?;
    if bytes.is_empty() {
        return Err(ApiError::BadRequest(
            "the request body must be the component's bytes (a .wasm file)".into(),
        ));
    }
    let labels = Labels {
        version: params.string("version"),
        app: params.string("app"),
    };
    if let Some(app) = labels.app {
        check_app_name(app).map_err(ApiError::BadRequest)?;
    }
    let verify = params.bool("verify", false)?;
    let require_compatible = params.bool("requireCompatible", false)?;
    let upgrade = params.bool("upgrade", false)?;
    if require_compatible && !verify {
        return Err(ApiError::BadRequest(
            "requireCompatible needs verify=true".into(),
        ));
    }
    let selection = Selection {
        orchestrator: None,
        finished_since: params.u64("since")?,
    };
    let mut verification = None;
    if verify {
        let checked = deployer
            .verify(&bytes, &selection)
            .await
            .map_err(engine_error)?;
        let report = Verification::of(&checked);
        if require_compatible && report.refusals > 0 {
            let message = format!(
                "not deployed: {} of {} instances do not replay against the component \
                 (requireCompatible); nothing was changed",
                report.refusals,
                checked.len()
            );
            let body = json!({
                "error": "Conflict",
                "message": message,
                "Message": message,
                "verification": report.json,
            });
            return Ok((StatusCode::CONFLICT, Json(body)).into_response());
        }
        verification = Some(report.json);
    }
    let record = deployer
        .deploy(&bytes, labels)
        .await
        .map_err(engine_error)?;
    let deployment = state
        .client
        .deployments()
        .await?
        .into_iter()
        .find(|d| d.digest == record.digest);
    let mut body = json!({ "deployment": deployment });
    if let Some(verification) = verification {
        body["verification"] = verification;
    }
    if upgrade {
        let target = Target::Deployment(&record.digest);
        let done = deployer
            .upgrade(Instances::AllUnfinished, target)
            .await
            .map_err(engine_error)?;
        body["upgrade"] = summary(&done);
    }
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// `POST /deployments/{digest}/retire` (API keys required, as for deploying).
pub async fn retire(
    State(state): State<ApiState>,
    Path(digest): Path<String>,
) -> Result<Response, ApiError> {
    changes_code(&state)?;
    Ok(Json(state.client.retire(&digest).await?).into_response())
}

/// `POST /deployments/gc[?dryRun=true][&grace=SECS]` (API keys required).
pub async fn gc(State(state): State<ApiState>, params: Params) -> Result<Response, ApiError> {
    changes_code(&state)?;
    let dry_run = params.bool("dryRun", false)?;
    let grace = std::time::Duration::from_secs(params.u64("grace")?.unwrap_or(60));
    Ok(Json(state.client.collect(dry_run, grace).await?).into_response())
}

/// Changing which code runs over HTTP needs API keys: an open port must not do it.
fn changes_code(state: &ApiState) -> Result<(), ApiError> {
    match state.config.api_keys.is_empty() {
        true => Err(ApiError::Forbidden(
            "changing deployments over HTTP needs API keys: start `durable serve` with \
             --api-key (or use the CLI on the database)"
                .into(),
        )),
        false => Ok(()),
    }
}

/// `POST /instances/{instanceId}/upgrade`.
pub async fn upgrade_one(
    State(state): State<ApiState>,
    Path(instance_id): Path<String>,
    params: Params,
) -> Result<Response, ApiError> {
    let deployer = deployer(&state)?;
    let to = params.string("to");
    let instances = Instances::Ids(vec![instance_id.clone()]);
    let done = deployer
        .upgrade(instances, target(to))
        .await
        .map_err(engine_error)?;
    let outcome = done
        .into_iter()
        .next()
        .map(|(_, outcome)| outcome)
        .ok_or_else(|| ApiError::NotFound(format!("no instance with id `{instance_id}`")))?;
    let status = match outcome {
        Upgrade::Moved { .. } | Upgrade::AlreadyThere(_) => StatusCode::OK,
        _ => StatusCode::CONFLICT,
    };
    Ok((status, Json(UpgradeReport::new(&instance_id, &outcome))).into_response())
}

/// `POST /instances/upgrade`.
pub async fn upgrade_all(
    State(state): State<ApiState>,
    params: Params,
) -> Result<Response, ApiError> {
    let deployer = deployer(&state)?;
    let to = params.string("to");
    let done = deployer
        .upgrade(Instances::AllUnfinished, target(to))
        .await
        .map_err(engine_error)?;
    Ok(Json(summary(&done)).into_response())
}

/// The host behind the API; an API without one (a client-only embedding) cannot move
/// instances.
fn deployer(state: &ApiState) -> Result<&std::sync::Arc<dyn crate::host::Deployer>, ApiError> {
    state.deployer.as_ref().ok_or_else(|| {
        ApiError::Forbidden(
            "this server does not run a host; upgrade with `durable upgrade`".into(),
        )
    })
}

fn target(to: Option<&str>) -> Target<'_> {
    to.map_or(Target::Newest, Target::Deployment)
}

/// Outcomes as `{"moved": n, "stayed": n, "instances": [report...]}`.
fn summary(done: &[(String, Upgrade)]) -> Value {
    let count = |label: &str| done.iter().filter(|(_, u)| u.label() == label).count();
    let reports: Vec<UpgradeReport> = done
        .iter()
        .map(|(id, outcome)| UpgradeReport::new(id, outcome))
        .collect();
    json!({
        "moved": count("moved"),
        "stayed": count("stays"),
        "busy": count("busy"),
        "instances": reports,
    })
}

/// A component that does not load is the request's fault; anything else the server's.
fn engine_error(e: EngineError) -> ApiError {
    match e {
        EngineError::InvalidComponent(e) => {
            ApiError::BadRequest(format!("the body is not a durable component: {e:#}"))
        }
        EngineError::Store(e) => e.into(),
        EngineError::UnknownDeployment(message) => ApiError::NotFound(message),
        EngineError::InvalidApp(message) => ApiError::BadRequest(message),
        e => ApiError::internal(&e),
    }
}

/// What a verification found, as the answer's `verification`.
struct Verification {
    refusals: usize,
    json: Value,
}

impl Verification {
    fn of(checked: &[(InstanceRecord, Verdict)]) -> Verification {
        let (mut compatible, mut not_started) = (0, 0);
        let (mut incompatible, mut failed) = (Vec::new(), Vec::new());
        for (instance, verdict) in checked {
            let entry = |failure| {
                json!({
                    "instanceId": instance.instance_id,
                    "name": instance.name,
                    "runtimeStatus": instance.status.as_str(),
                    "failure": failure,
                })
            };
            match verdict {
                Verdict::Compatible => compatible += 1,
                Verdict::NotStarted => not_started += 1,
                Verdict::Incompatible(failure) => incompatible.push(entry(failure)),
                Verdict::Failed(failure) => failed.push(entry(failure)),
            }
        }
        Verification {
            refusals: incompatible.len() + failed.len(),
            json: json!({
                "replayed": checked.len(),
                "compatible": compatible,
                "notStarted": not_started,
                "incompatible": incompatible,
                "failedToReplay": failed,
            }),
        }
    }
}
