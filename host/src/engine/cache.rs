//! Live orchestrator instances kept between turns, so a turn costs its new events and not a
//! replay of the whole history.

use crate::metrics;
use crate::replay::ReplayState;
use crate::types::Timestamp;
use crate::wasm::LiveOrchestration;
use std::collections::{HashMap, VecDeque};

/// A live guest and what the host remembers of its history.
pub(crate) struct CachedInstance {
    pub guest: LiveOrchestration,
    pub replay: ReplayState,
    pub execution_id: String,
}

/// What an entry counts against the cache's memory budget.
pub(crate) trait Weighed {
    fn bytes(&self) -> usize;
}

impl Weighed for CachedInstance {
    /// Its guest's linear memory.
    fn bytes(&self) -> usize {
        self.guest.linear_memory_bytes()
    }
}

/// Live instances by instance id, evicting the least recently returned when more are held than
/// its capacity, or when their guests' linear memory together passes its memory budget (a
/// Python instance holds ten times a Rust one's), and those idle too long when asked
/// ([`InstanceCache::evict_idle`]).
pub(crate) struct InstanceCache<E = CachedInstance> {
    capacity: usize,
    memory_budget: usize,
    /// The linear memory of the instances held, as each was when returned.
    memory: usize,
    entries: HashMap<String, Held<E>>,
    /// Instance ids in the order they were returned, with the generation they were returned
    /// at (an entry returned again leaves a stale older pair behind).
    order: VecDeque<(String, u64)>,
    generation: u64,
}

struct Held<E> {
    /// When it was returned: its place in `order`.
    generation: u64,
    /// When it was returned, by the engine's clock.
    returned_at: Timestamp,
    entry: E,
}

impl<E: Weighed> InstanceCache<E> {
    /// Holds at most `capacity` instances, whose guests' linear memory together stays within
    /// `memory_budget` bytes.
    pub fn new(capacity: usize, memory_budget: usize) -> Self {
        InstanceCache {
            capacity,
            memory_budget,
            memory: 0,
            entries: HashMap::new(),
            order: VecDeque::new(),
            generation: 0,
        }
    }

    /// Takes an instance out (a turn owns it while it runs).
    pub fn take(&mut self, id: &str) -> Option<E> {
        let taken = self.entries.remove(id).map(|held| held.entry);
        if let Some(entry) = &taken {
            self.memory -= entry.bytes();
        }
        metrics::cache_size(self.entries.len());
        taken
    }

    /// Returns an instance after its turn committed, at `now`.
    pub fn put(&mut self, id: String, entry: E, now: Timestamp) {
        if self.capacity == 0 {
            return;
        }
        self.generation += 1;
        self.order.push_back((id.clone(), self.generation));
        self.memory += entry.bytes();
        let held = Held {
            generation: self.generation,
            returned_at: now,
            entry,
        };
        if let Some(replaced) = self.entries.insert(id, held) {
            self.memory -= replaced.entry.bytes();
        }
        while (self.entries.len() > self.capacity || self.memory > self.memory_budget)
            && self.evict_oldest()
        {}
        // Drop stale order entries so the queue stays bounded.
        if self.order.len() > self.capacity * 4 + 16 {
            let entries = &self.entries;
            self.order
                .retain(|(id, g)| entries.get(id).is_some_and(|held| held.generation == *g));
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

    /// Drops the instances returned at `before` or earlier (idle since), and says how many.
    pub fn evict_idle(&mut self, before: Timestamp) -> usize {
        let mut evicted = 0;
        while self
            .oldest()
            .is_some_and(|oldest| oldest.returned_at <= before)
            && self.evict_oldest()
        {
            evicted += 1;
        }
        metrics::cache_size(self.entries.len());
        evicted
    }

    /// The least recently returned instance (dropping the stale order entries before it).
    fn oldest(&mut self) -> Option<&Held<E>> {
        loop {
            let (id, generation) = self.order.front()?;
            let current = (self.entries.get(id)).is_some_and(|h| h.generation == *generation);
            if current {
                return self.entries.get(id);
            }
            self.order.pop_front();
        }
    }

    /// Drops the least recently returned instance; `false` when there is none.
    fn evict_oldest(&mut self) -> bool {
        while let Some((old, generation)) = self.order.pop_front() {
            if (self.entries.get(&old)).is_some_and(|held| held.generation == generation) {
                if let Some(evicted) = self.entries.remove(&old) {
                    self.memory -= evicted.entry.bytes();
                }
                metrics::cache_evicted(1);
                return true;
            }
        }
        false
    }

    /// The instances held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Drops every instance.
    pub fn clear(&mut self) {
        self.entries.clear();
        self.order.clear();
        self.memory = 0;
        metrics::cache_size(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An entry of so many bytes.
    struct Bytes(usize);

    impl Weighed for Bytes {
        fn bytes(&self) -> usize {
            self.0
        }
    }

    fn held(cache: &InstanceCache<Bytes>) -> Vec<&str> {
        let mut ids: Vec<&str> = cache.entries.keys().map(String::as_str).collect();
        ids.sort_unstable();
        ids
    }

    #[test]
    fn the_least_recently_returned_go_when_count_or_memory_is_over() {
        let mut cache = InstanceCache::new(3, 100);
        cache.put("a".into(), Bytes(40), 0);
        cache.put("b".into(), Bytes(40), 0);
        assert_eq!(held(&cache), ["a", "b"]);
        // 120 bytes: over the budget, so the oldest goes.
        cache.put("c".into(), Bytes(40), 0);
        assert_eq!(held(&cache), ["b", "c"]);
        assert_eq!(cache.memory, 80);
        // Taken out for a turn, it no longer counts; back bigger, it pushes out the oldest.
        let b = cache.take("b").unwrap();
        assert_eq!(cache.memory, 40);
        cache.put("b".into(), Bytes(b.0 + 10), 0);
        assert_eq!(held(&cache), ["b", "c"]);
        cache.put("d".into(), Bytes(20), 0);
        assert_eq!(
            held(&cache),
            ["b", "d"],
            "c was the least recently returned"
        );
        assert_eq!(cache.memory, 70);
        // The count bounds too.
        cache.put("e".into(), Bytes(1), 0);
        cache.put("f".into(), Bytes(1), 0);
        assert_eq!(held(&cache), ["d", "e", "f"]);
        // One instance over the whole budget is not kept.
        cache.put("g".into(), Bytes(101), 0);
        assert_eq!(held(&cache), Vec::<&str>::new());
        assert_eq!(cache.memory, 0);
    }

    #[test]
    fn instances_idle_since_a_time_are_dropped() {
        let mut cache = InstanceCache::new(10, 100);
        cache.put("a".into(), Bytes(1), 1_000);
        cache.put("b".into(), Bytes(1), 2_000);
        cache.put("c".into(), Bytes(1), 3_000);
        // Back after another turn: idle since then, not since its first return.
        let a = cache.take("a").unwrap();
        cache.put("a".into(), Bytes(a.0), 4_000);
        assert_eq!(cache.evict_idle(999), 0);
        assert_eq!(cache.evict_idle(2_000), 1, "b was idle since 2,000");
        assert_eq!(held(&cache), ["a", "c"]);
        assert_eq!(cache.evict_idle(3_999), 1);
        assert_eq!(held(&cache), ["a"]);
        assert_eq!(cache.memory, 1);
        assert_eq!(cache.evict_idle(u64::MAX), 1);
        assert_eq!(cache.memory, 0);
        assert_eq!(cache.evict_idle(u64::MAX), 0);
    }
}
