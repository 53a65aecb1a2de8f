//! Sub-orchestrations: the orchestrator `process_order` starts one `ship_item` child
//! orchestration per item, all at once, and returns the sum of their shipping costs.
//!
//! The children get ids the host derives from the parent's id and each child's sequence id
//! (`<parent-id>:<sequence-id>`), so a replay starts the same children under the same ids.
//! Each `ship_item` calls the activity `quote_shipping`.

use durable_sdk::{Failure, OrchestrationContext, Task, task_all};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Item {
    sku: String,
    quantity: u32,
}

#[derive(Debug, Deserialize)]
struct Order {
    items: Vec<Item>,
}

#[durable_sdk::orchestrator]
async fn process_order(ctx: OrchestrationContext, order: Order) -> Result<u64, Failure> {
    let shipments: Vec<Task<u64>> = order
        .items
        .iter()
        .map(|item| ctx.call_sub_orchestrator("ship_item", None, item))
        .collect();
    let costs = task_all(shipments).await?;
    let total = costs.iter().sum();
    ctx.info(format!("{} items ship for {total}", costs.len()));
    Ok(total)
}

#[durable_sdk::orchestrator]
async fn ship_item(ctx: OrchestrationContext, item: Item) -> Result<u64, Failure> {
    ctx.call_activity("quote_shipping", &item).await
}

/// Quotes shipping: 5 per unit plus 2 per order line.
#[durable_sdk::activity]
fn quote_shipping(item: Item) -> Result<u64, Failure> {
    if item.quantity == 0 {
        return Err(
            Failure::new("InvalidItem", format!("{}: quantity is 0", item.sku)).non_retriable(),
        );
    }
    Ok(u64::from(item.quantity) * 5 + 2)
}

durable_sdk::component! {
    orchestrators: [process_order, ship_item],
    activities: [quote_shipping],
    entities: [],
}
