//! Back-pressure when the pooling allocator is full.
//!
//! With the pooling allocator, a host has a fixed number of guest instance slots (and of
//! memories, tables and fiber stacks). When every one is in use, instantiating a guest or
//! starting a call on one fails with [`wasmtime::PoolConcurrencyLimitError`] before any guest
//! code runs. That is not the guest's fault and must never fail an orchestration, activity or
//! entity operation: the work waits for a slot instead ([`waiting_for_a_slot!`]). While it
//! waits, the host gives back slots it holds by choice (the engine evicts the least recently
//! used live orchestrators from its cache), and running guests give theirs back as they finish.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;
use tokio::sync::{Semaphore, SemaphorePermit};

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

/// What an activity run of a component not seen yet reserves: about a Python or JavaScript
/// instance's linear memory.
const FIRST_RUN_RESERVE: usize = 16 << 20;

/// The linear memory running activities may hold together. A run reserves what its
/// component's activity instance held after its last run (a Rust one about 1 MiB, a Python one
/// about 13), or [`FIRST_RUN_RESERVE`] the first time, and waits while the reservations of the
/// runs in flight leave too little; a run bigger than the whole budget waits for every other
/// to end. So 256 Python activities in flight do not each hold their interpreter at once.
pub(crate) struct MemoryBudget {
    /// One permit per MiB.
    permits: Semaphore,
    total_mib: u32,
    /// Bytes each component's activity instance held after its last run, by digest.
    observed: Mutex<HashMap<String, usize>>,
}

impl MemoryBudget {
    pub(crate) fn new(bytes: usize) -> Self {
        let total_mib = u32::try_from(bytes >> 20).unwrap_or(u32::MAX).max(1);
        MemoryBudget {
            permits: Semaphore::new(total_mib as usize),
            total_mib,
            observed: Mutex::new(HashMap::new()),
        }
    }

    /// Waits until a run of `digest`'s activities fits, and holds its share until dropped.
    pub(crate) async fn reserve(&self, digest: &str) -> SemaphorePermit<'_> {
        let bytes = (self.observed.lock().unwrap_or_else(|e| e.into_inner()))
            .get(digest)
            .copied()
            .unwrap_or(FIRST_RUN_RESERVE);
        let mib = u32::try_from(bytes.div_ceil(1 << 20))
            .unwrap_or(u32::MAX)
            .clamp(1, self.total_mib);
        self.permits
            .acquire_many(mib)
            .await
            .expect("the budget's semaphore is never closed")
    }

    /// Records what a run of `digest`'s activities held: the next runs reserve that.
    pub(crate) fn observe(&self, digest: &str, bytes: usize) {
        let mut observed = self.observed.lock().unwrap_or_else(|e| e.into_inner());
        match observed.get_mut(digest) {
            Some(held) => *held = bytes,
            None => {
                observed.insert(digest.to_owned(), bytes);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_wait_while_their_reservations_do_not_fit() {
        let budget = MemoryBudget::new(40 << 20);
        // Unknown components reserve 16 MiB: two fit, a third waits.
        let a = budget.reserve("py").await;
        let b = budget.reserve("py").await;
        assert!(budget.permits.try_acquire_many(16).is_err());
        drop(a);
        // Seen at 1 MiB, a component's runs reserve 1 MiB each.
        budget.observe("rust", 1 << 20);
        let small: Vec<_> =
            futures_util::future::join_all((0..24).map(|_| budget.reserve("rust"))).await;
        assert_eq!(budget.permits.available_permits(), 0);
        drop(small);
        drop(b);
        // Bigger than the whole budget: it takes all of it, once the others are done.
        budget.observe("huge", 100 << 20);
        let all = budget.reserve("huge").await;
        assert_eq!(budget.permits.available_permits(), 0);
        drop(all);
        assert_eq!(budget.permits.available_permits(), 40);
    }
}
