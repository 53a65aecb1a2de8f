//! Function chaining: the orchestrator `hello_sequence` calls the activity `say_hello` three
//! times, one after another, and returns the three greetings.
//!
//! Each `call_activity(..).await` schedules one activity; the host runs it, records the result and
//! replays the orchestrator, which then moves on to the next city.

use durable_sdk::{Failure, OrchestrationContext};

#[durable_sdk::orchestrator]
async fn hello_sequence(ctx: OrchestrationContext) -> Result<Vec<String>, Failure> {
    let mut greetings = Vec::new();
    for city in ["Tokyo", "Seattle", "London"] {
        greetings.push(ctx.call_activity::<String>("say_hello", city).await?);
    }
    Ok(greetings)
}

#[durable_sdk::activity]
fn say_hello(name: String) -> Result<String, Failure> {
    Ok(format!("Hello {name}!"))
}

durable_sdk::component! {
    orchestrators: [hello_sequence],
    activities: [say_hello],
    entities: [],
}
