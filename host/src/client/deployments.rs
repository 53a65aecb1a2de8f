//! Deployments as a client sees them: each stored component, what it offers, which names it is
//! the newest offer of, and how many unfinished instances run on it.

use super::{Client, ClientError};
use crate::inspect::upgrade::find_deployment;
use crate::resolve::{FunctionKind, newest_for, newest_offering};
use crate::store::Catalogue;
use crate::types::Timestamp;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// One deployment (a stored component), for `durable deployments` and `GET /deployments`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Deployment {
    /// `sha256:<hex>` of the component's bytes.
    pub digest: String,
    /// When it was last deployed, ms since the epoch.
    pub deployed_at: Timestamp,
    /// What it offers.
    pub offers: Catalogue,
    /// The names (orchestrators, activities, entities) it is the newest deployment offering:
    /// new instances of those orchestrators start on it, and entity operations and calls
    /// not answered by the caller's own component go to it.
    pub newest_for: Vec<String>,
    /// Unfinished instances pinned to it: they run its code until they finish.
    pub pinned_instances: u64,
    /// `current` when it is the newest offering some name, `retired` once retired (`durable
    /// retire`), else `superseded` (it runs only the instances pinned to it, and calls made by
    /// them).
    pub state: String,
    /// When it was retired, ms since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retired_at: Option<Timestamp>,
    /// The version label it was deployed with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The app it belongs to: its activities run with that app's grants.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
}

/// What [`Client::retire`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Retired {
    /// The deployment retired.
    pub digest: String,
    /// The unfinished instances pinned to it, which finish on it.
    pub pinned_instances: u64,
    /// The orchestrators no deployment offers any more: starting them fails until one does.
    pub no_longer_offered: Vec<String>,
}

/// What [`Client::collect`] deleted (or would).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Collected {
    /// The deployments deleted (with `dry_run`: that would be).
    pub deleted: Vec<String>,
    /// The retired deployments kept: something needs them, or they were retired too recently.
    pub kept: usize,
    /// Whether nothing was deleted on purpose.
    pub dry_run: bool,
}

impl Client {
    /// Retires the deployment `digest` names (a digest, or a prefix naming one): it takes no
    /// new instances and no calls from other components; the instances pinned to it finish
    /// on it. Deploying it again brings it back.
    pub async fn retire(&self, digest: &str) -> Result<Retired, ClientError> {
        let deployments = self.store.components().await?;
        let record = find_deployment(&deployments, digest)
            .map_err(ClientError::UnknownDeployment)?
            .clone();
        self.store
            .retire_component(&record.digest, self.clock.now())
            .await?;
        let pinned_instances = self
            .store
            .pinned_counts()
            .await?
            .into_iter()
            .find(|(d, _)| *d == record.digest)
            .map_or(0, |(_, n)| n);
        let after = self.store.components().await?;
        let no_longer_offered = record
            .catalogue
            .orchestrators
            .iter()
            .filter(|name| newest_offering(FunctionKind::Orchestrator, name, &after).is_none())
            .cloned()
            .collect();
        Ok(Retired {
            digest: record.digest,
            pinned_instances,
            no_longer_offered,
        })
    }

    /// Deletes the deployments retired at least `grace` ago that nothing needs
    /// ([`crate::store::Store::collect_components`]); with `dry_run` only says which.
    pub async fn collect(&self, dry_run: bool, grace: Duration) -> Result<Collected, ClientError> {
        let grace = u64::try_from(grace.as_millis()).unwrap_or(u64::MAX);
        let retired_by = self.clock.now().saturating_sub(grace);
        let deleted = self.store.collect_components(retired_by, dry_run).await?;
        let kept = self
            .store
            .components()
            .await?
            .iter()
            .filter(|c| c.retired_at.is_some() && !(dry_run && deleted.contains(&c.digest)))
            .count();
        Ok(Collected {
            deleted,
            kept,
            dry_run,
        })
    }

    /// Every deployment, newest first.
    pub async fn deployments(&self) -> Result<Vec<Deployment>, ClientError> {
        let components = self.store.components().await?;
        let pinned = self.store.pinned_counts().await?;
        let deployments = components
            .iter()
            .map(|component| {
                let offers = &component.catalogue;
                let newest_for = newest_for(component, &components);
                Deployment {
                    digest: component.digest.clone(),
                    deployed_at: component.deployed_at,
                    offers: offers.clone(),
                    pinned_instances: pinned
                        .iter()
                        .find(|(digest, _)| *digest == component.digest)
                        .map_or(0, |(_, count)| *count),
                    state: match (component.retired_at, newest_for.is_empty()) {
                        (Some(_), _) => "retired",
                        (None, true) => "superseded",
                        (None, false) => "current",
                    }
                    .into(),
                    retired_at: component.retired_at,
                    version: component.version.clone(),
                    app: component.app.clone(),
                    newest_for,
                }
            })
            .collect();
        Ok(deployments)
    }
}
