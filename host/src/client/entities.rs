//! The client side of entities: signal one, read its state, list them, clean up empty ones.

use super::*;
use crate::resolve::{FunctionKind, newest_offering};
use crate::store::{EntityFilter, EntityMessage, EntityRecord};
use crate::types::{EntityId, is_reserved_operation};

impl Client {
    /// Sends operation `operation` with JSON `input` to entity `name@key` without waiting for it
    /// to run. Fails when no deployed component offers an entity named `name`.
    pub async fn signal_entity(
        &self,
        name: &str,
        key: &str,
        operation: &str,
        input: &str,
    ) -> Result<(), ClientError> {
        self.signal_entity_at(name, key, operation, input, None)
            .await
    }

    /// Like [`Client::signal_entity`], delivered at `at` (none: now).
    pub async fn signal_entity_at(
        &self,
        name: &str,
        key: &str,
        operation: &str,
        input: &str,
        at: Option<Timestamp>,
    ) -> Result<(), ClientError> {
        if name.trim().is_empty() || key.is_empty() || operation.trim().is_empty() {
            return Err(ClientError::InvalidRequest(
                "an entity signal needs an entity name, a key and an operation".into(),
            ));
        }
        if is_reserved_operation(operation) {
            return Err(ClientError::InvalidRequest(format!(
                "operation names starting with `$` are reserved (`{operation}`)"
            )));
        }
        let input = self.payload("the operation input", input)?;
        self.check_entity_name(name).await?;
        let now = self.clock.now();
        self.store
            .send_entity_message(EntityMessage {
                entity: EntityId {
                    name: name.to_owned(),
                    key: key.to_owned(),
                },
                operation: operation.to_owned(),
                input,
                caller: None,
                sender: None,
                visible_at: at.unwrap_or(now).max(now),
            })
            .await?;
        self.signals.entities.notify_one();
        Ok(())
    }

    async fn check_entity_name(&self, name: &str) -> Result<(), ClientError> {
        let components = self.store.components().await?;
        if newest_offering(FunctionKind::Entity, name, &components).is_some() {
            return Ok(());
        }
        let mut available: Vec<String> = components
            .into_iter()
            .flat_map(|c| c.catalogue.entities)
            .collect();
        available.sort();
        available.dedup();
        let offered = match available.is_empty() {
            true => "no deployed component offers any entity".to_owned(),
            false => format!("deployed components offer: {}", available.join(", ")),
        };
        Err(ClientError::InvalidRequest(format!(
            "unknown entity `{name}`; {offered}"
        )))
    }

    /// The entity's record (state, last operation time, pending messages); `None` when it was
    /// never addressed or has been deleted.
    pub async fn entity_state(
        &self,
        name: &str,
        key: &str,
    ) -> Result<Option<EntityRecord>, ClientError> {
        let id = EntityId {
            name: name.to_owned(),
            key: key.to_owned(),
        };
        Ok(self.store.entity(&id).await?)
    }

    /// Entities matching `filter`, in (name, key) order; page with `filter.after`.
    pub async fn list_entities(
        &self,
        filter: &EntityFilter,
    ) -> Result<Vec<EntityRecord>, ClientError> {
        Ok(self.store.list_entities(filter).await?)
    }

    /// Deletes entities without state or pending messages; returns how many.
    pub async fn delete_empty_entities(&self) -> Result<usize, ClientError> {
        Ok(self.store.delete_empty_entities(self.clock.now()).await?)
    }
}
