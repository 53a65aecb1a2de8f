//! Deployments over HTTP (not in Durable Functions, whose code is deployed with the function
//! app):
//!
//! - `GET /deployments`: every stored component, newest first, with what it offers, the names
//!   it is the newest offer of and the unfinished instances pinned to it (as `durable
//!   deployments --json` prints them);
//! - `POST /deployments[?verify=true[&requireCompatible=true][&since=MS]]` (body: the
//!   component's bytes): deploys it to the host the API serves for, used at once by every host
//!   on the database; with `verify`, first replays the stored histories of the orchestrators
//!   it offers against it ([`crate::inspect::verify`]) and answers with what it found; with
//!   `requireCompatible`, a component some instance does not replay is refused (409) and
//!   nothing changes. Deploying code over HTTP needs API keys configured (else 403): an open
//!   port must not take code.

use super::request::Params;
use super::{ApiError, ApiState};
use crate::engine::EngineError;
use crate::inspect::verify::{Selection, Verdict};
use crate::store::InstanceRecord;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
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
    let verify = params.bool("verify", false)?;
    let require_compatible = params.bool("requireCompatible", false)?;
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
    let record = deployer.deploy(&bytes).await.map_err(engine_error)?;
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
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// A component that does not load is the request's fault; anything else the server's.
fn engine_error(e: EngineError) -> ApiError {
    match e {
        EngineError::InvalidComponent(e) => {
            ApiError::BadRequest(format!("the body is not a durable component: {e:#}"))
        }
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
