//! Deployments as a client sees them: each stored component, what it offers, which names it is
//! the newest offer of, and how many unfinished instances run on it.

use super::{Client, ClientError};
use crate::resolve::{FunctionKind, newest_offering};
use crate::store::Catalogue;
use crate::types::Timestamp;
use serde::{Deserialize, Serialize};

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
    /// `current` when it is the newest offering some name, else `superseded` (it runs only
    /// the instances pinned to it, and calls made by them).
    pub state: String,
}

impl Client {
    /// Every deployment, newest first.
    pub async fn deployments(&self) -> Result<Vec<Deployment>, ClientError> {
        let components = self.store.components().await?;
        let pinned = self.store.pinned_counts().await?;
        let deployments = components
            .iter()
            .map(|component| {
                let offers = &component.catalogue;
                let kinds = [
                    (FunctionKind::Orchestrator, &offers.orchestrators),
                    (FunctionKind::Activity, &offers.activities),
                    (FunctionKind::Entity, &offers.entities),
                ];
                let newest_for: Vec<String> = kinds
                    .into_iter()
                    .flat_map(|(kind, names)| names.iter().map(move |name| (kind, name)))
                    .filter(|(kind, name)| {
                        newest_offering(*kind, name, &components)
                            .is_some_and(|newest| newest.digest == component.digest)
                    })
                    .map(|(_, name)| name.clone())
                    .collect();
                Deployment {
                    digest: component.digest.clone(),
                    deployed_at: component.deployed_at,
                    offers: offers.clone(),
                    pinned_instances: pinned
                        .iter()
                        .find(|(digest, _)| *digest == component.digest)
                        .map_or(0, |(_, count)| *count),
                    state: if newest_for.is_empty() {
                        "superseded"
                    } else {
                        "current"
                    }
                    .into(),
                    newest_for,
                }
            })
            .collect();
        Ok(deployments)
    }
}
