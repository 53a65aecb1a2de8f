//! Live orchestrator instances kept between turns, so a turn costs its new events and not a
//! replay of the whole history.

use crate::metrics;
use crate::replay::ReplayState;
use crate::wasm::LiveOrchestration;
use std::collections::{HashMap, VecDeque};

/// A live guest and what the host remembers of its history.
pub(crate) struct CachedInstance {
    pub guest: LiveOrchestration,
    pub replay: ReplayState,
    pub execution_id: String,
}

/// Live instances by instance id, evicting the least recently returned when full.
pub(crate) struct InstanceCache {
    capacity: usize,
    entries: HashMap<String, (u64, CachedInstance)>,
    /// Instance ids in the order they were returned, with the generation they were returned
    /// at (an entry returned again leaves a stale older pair behind).
    order: VecDeque<(String, u64)>,
    generation: u64,
}

impl InstanceCache {
    pub fn new(capacity: usize) -> Self {
        InstanceCache {
            capacity,
            entries: HashMap::new(),
            order: VecDeque::new(),
            generation: 0,
        }
    }

    /// Takes an instance out (a turn owns it while it runs).
    pub fn take(&mut self, id: &str) -> Option<CachedInstance> {
        let taken = self.entries.remove(id).map(|(_, entry)| entry);
        metrics::cache_size(self.entries.len());
        taken
    }

    /// Returns an instance after its turn committed.
    pub fn put(&mut self, id: String, entry: CachedInstance) {
        if self.capacity == 0 {
            return;
        }
        self.generation += 1;
        self.order.push_back((id.clone(), self.generation));
        self.entries.insert(id, (self.generation, entry));
        while self.entries.len() > self.capacity && self.evict_oldest() {}
        // Drop stale order entries so the queue stays bounded.
        if self.order.len() > self.capacity * 4 + 16 {
            let entries = &self.entries;
            self.order
                .retain(|(id, g)| entries.get(id).is_some_and(|(current, _)| current == g));
        }
        metrics::cache_size(self.entries.len());
    }

    /// Drops the least recently returned instances, one in `share` of them (at least one
    /// while any is cached), and says how many.
    pub fn evict_oldest_share(&mut self, share: usize) -> usize {
        let wanted = self.entries.len().div_ceil(share.max(1));
        let evicted = (0..wanted).take_while(|_| self.evict_oldest()).count();
        metrics::cache_size(self.entries.len());
        evicted
    }

    /// Drops the least recently returned instance; `false` when there is none.
    fn evict_oldest(&mut self) -> bool {
        while let Some((old, generation)) = self.order.pop_front() {
            if self
                .entries
                .get(&old)
                .is_some_and(|(g, _)| *g == generation)
            {
                self.entries.remove(&old);
                metrics::cache_evicted(1);
                return true;
            }
        }
        false
    }

    /// Drops every instance.
    pub fn clear(&mut self) {
        self.entries.clear();
        self.order.clear();
        metrics::cache_size(0);
    }
}
