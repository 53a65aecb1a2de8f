//! `durable entity ...`: signal an entity, read its state, list entities, delete empty ones.
//! Works on the database (not over `--url`); a `durable serve` on the same database runs the
//! signalled operations.

use super::*;
use durable_host::store::{EntityFilter, EntityRecord};
use durable_host::types::EntityId;

#[derive(Debug, Subcommand)]
pub enum EntityCommand {
    /// Send an operation to an entity without waiting for it to run.
    Signal {
        /// The entity's name, e.g. `counter`.
        name: String,
        /// Which instance of it, e.g. `user-42`.
        key: String,
        /// The operation, e.g. `add`.
        operation: String,
        /// The operation's input as JSON.
        #[arg(long, default_value = "null")]
        input: String,
        /// Deliver at this time (ms since the epoch) instead of now.
        #[arg(long)]
        at: Option<u64>,
    },
    /// Print an entity's state (JSON) and when it last ran.
    Get { name: String, key: String },
    /// List entities that have state.
    List {
        /// Only entities with this name.
        #[arg(long)]
        name: Option<String>,
        /// Include entities without state.
        #[arg(long)]
        all: bool,
        /// Only entities whose last operation ran at or after this time (ms since the epoch).
        #[arg(long)]
        from: Option<u64>,
        /// Only entities whose last operation ran at or before this time (ms since the epoch).
        #[arg(long)]
        to: Option<u64>,
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// Start after this entity (`NAME@KEY`, the last one of the previous page).
        #[arg(long)]
        after: Option<String>,
    },
    /// Delete entities that have no state and no pending operations.
    DeleteEmpty,
}

pub async fn run(client: &Client, command: EntityCommand) -> anyhow::Result<ExitCode> {
    match command {
        EntityCommand::Signal {
            name,
            key,
            operation,
            input,
            at,
        } => {
            client
                .signal_entity_at(&name, &key, &operation, &input, at)
                .await?;
            Ok(ExitCode::SUCCESS)
        }
        EntityCommand::Get { name, key } => match client.entity_state(&name, &key).await? {
            Some(record) => {
                print_entity(&record);
                Ok(ExitCode::SUCCESS)
            }
            None => bail!("no entity `{name}@{key}`"),
        },
        EntityCommand::List {
            name,
            all,
            from,
            to,
            limit,
            after,
        } => {
            let after = match after {
                None => None,
                Some(text) => {
                    let (name, key) = text
                        .split_once('@')
                        .with_context(|| format!("--after `{text}` is not NAME@KEY"))?;
                    Some(EntityId {
                        name: name.to_owned(),
                        key: key.to_owned(),
                    })
                }
            };
            let filter = EntityFilter {
                name,
                include_empty: all,
                last_operation_from: from,
                last_operation_to: to,
                limit: Some(limit),
                after,
            };
            for record in client.list_entities(&filter).await? {
                print_entity(&record);
            }
            Ok(ExitCode::SUCCESS)
        }
        EntityCommand::DeleteEmpty => {
            let deleted = client.delete_empty_entities().await?;
            println!("{deleted} entities deleted");
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `NAME@KEY  STATE  last operation TIME  (N pending)`.
fn print_entity(record: &EntityRecord) {
    let last = match record.last_operation_at {
        0 => "never ran".to_owned(),
        at => format!("last operation {}", output::format_time(at)),
    };
    let pending = match record.pending {
        0 => String::new(),
        n => format!("  ({n} pending)"),
    };
    println!(
        "{}@{}  {}  {last}{pending}",
        record.name,
        record.key,
        record.state.as_deref().unwrap_or("(no state)")
    );
}
