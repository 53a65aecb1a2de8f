//! Moving money between two account entities inside a critical section.
//!
//! `account` is an entity in the struct style: its state is the balance. `transfer` locks both
//! accounts (a critical section: no other orchestration or signal touches them until it is
//! done), reads the source balance, and moves the money only if it suffices, so concurrent
//! transfers never overdraw an account and the total is conserved.

use durable_sdk::{EntityId, Failure, OrchestrationContext, task_all};
use serde::{Deserialize, Serialize};

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Account {
    balance: i64,
}

#[durable_sdk::entity]
impl Account {
    fn deposit(&mut self, amount: i64) -> Result<i64, Failure> {
        self.balance += amount;
        Ok(self.balance)
    }

    fn withdraw(&mut self, amount: i64) -> Result<i64, Failure> {
        if amount > self.balance {
            return Err(Failure::new(
                "InsufficientFunds",
                format!("balance is {}, needed {amount}", self.balance),
            )
            .non_retriable());
        }
        self.balance -= amount;
        Ok(self.balance)
    }

    fn balance(&self) -> Result<i64, Failure> {
        Ok(self.balance)
    }
}

/// Input of `transfer`.
#[derive(Debug, Deserialize)]
pub struct Transfer {
    pub from: String,
    pub to: String,
    pub amount: i64,
}

/// Returns true when the money moved, false when the source had too little.
#[durable_sdk::orchestrator]
async fn transfer(ctx: OrchestrationContext, input: Transfer) -> Result<bool, Failure> {
    let from = EntityId::new("account", input.from);
    let to = EntityId::new("account", input.to);
    ctx.lock_entities(&[from.clone(), to.clone()]).await?;
    let balance: i64 = ctx.call_entity(&from, "balance", ()).await?;
    let moved = balance >= input.amount;
    if moved {
        let withdraw = ctx.call_entity::<i64>(&from, "withdraw", input.amount);
        let deposit = ctx.call_entity::<i64>(&to, "deposit", input.amount);
        task_all(vec![withdraw, deposit]).await?;
    }
    ctx.unlock_entities();
    Ok(moved)
}

durable_sdk::component! {
    orchestrators: [transfer],
    activities: [],
    entities: [Account],
}
