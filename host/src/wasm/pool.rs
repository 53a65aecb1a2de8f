//! Back-pressure when the pooling allocator is full.
//!
//! With the pooling allocator, a host has a fixed number of guest instance slots (and of
//! memories, tables and fiber stacks). When every one is in use, instantiating a guest or
//! starting a call on one fails with [`wasmtime::PoolConcurrencyLimitError`] before any guest
//! code runs. That is not the guest's fault and must never fail an orchestration, activity or
//! entity operation: the work waits for a slot instead ([`waiting_for_a_slot!`]). While it
//! waits, the host gives back slots it holds by choice (the engine evicts the least recently
//! used live orchestrators from its cache), and running guests give theirs back as they finish.

use std::sync::OnceLock;
use std::time::Duration;

/// The longest pause between two tries for a slot.
const MAX_PAUSE: Duration = Duration::from_millis(20);

/// Frees slots on demand while work waits for one.
#[derive(Default)]
pub(crate) struct SlotWaiter {
    relief: OnceLock<Box<dyn Fn() + Send + Sync>>,
    /// The runtime's own: drops the idle warm activity instances.
    own_relief: OnceLock<Box<dyn Fn() + Send + Sync>>,
}

impl SlotWaiter {
    /// Sets what to call when the pool is full: it should drop guest instances the host
    /// keeps only to save work (cached live orchestrators). Set once; later calls are ignored.
    pub(crate) fn on_full(&self, relief: Box<dyn Fn() + Send + Sync>) {
        let _ = self.relief.set(relief);
    }

    /// The runtime's own relief, called before the engine's.
    pub(crate) fn on_full_own(&self, relief: Box<dyn Fn() + Send + Sync>) {
        let _ = self.own_relief.set(relief);
    }

    /// Called after a try found the pool full: frees what can be freed and pauses before the
    /// next try (a little longer each time, up to [`MAX_PAUSE`]).
    pub(crate) async fn pause(&self, pause: &mut Duration) {
        for relieve in [&self.own_relief, &self.relief] {
            if let Some(relieve) = relieve.get() {
                relieve();
            }
        }
        tokio::time::sleep(*pause).await;
        *pause = (*pause * 2).clamp(Duration::from_millis(1), MAX_PAUSE);
    }
}

/// Whether a wasmtime error says the pool had no free slot (instance, memory, table or fiber
/// stack). Such an error comes before any guest code ran, so trying again is safe.
pub(crate) fn pool_full(error: &wasmtime::Error) -> bool {
    error.is::<wasmtime::PoolConcurrencyLimitError>()
}

/// Evaluates `$call` (an `.await`ed wasmtime call returning `wasmtime::Result`) until it does
/// not fail for want of a pool slot, pausing on `$waiter` (a [`SlotWaiter`]) in between.
macro_rules! waiting_for_a_slot {
    ($waiter:expr, $call:expr) => {{
        let mut pause = std::time::Duration::ZERO;
        loop {
            match $call {
                Err(e) if $crate::wasm::pool::pool_full(&e) => {
                    tracing::debug!("no free guest instance slot; waiting for one");
                    $waiter.pause(&mut pause).await;
                }
                other => break other,
            }
        }
    }};
}
pub(crate) use waiting_for_a_slot;
