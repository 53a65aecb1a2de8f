//! Activity instances kept warm between calls.
//!
//! Activities are stateless calls, so an instance whose call returned serves the next call of
//! the same component and app instead of a fresh instantiation (a Python interpreter's
//! start-up and the pages it writes, about a millisecond). A call takes the most recently
//! returned idle instance; a returned instance is kept while the idle instances' linear memory
//! together stays within a budget (the running activities' budget, `--activities-memory-mb`),
//! the least recently returned dropped first. So the pool holds about as many instances as ran
//! at once, whatever their language, and no more memory than was already allowed to run. The
//! engine drops the instances idle for longer than `--instance-idle-secs`
//! ([`WarmPool::drop_idle`]), so a quiet host gives their memory back.

use crate::metrics;
use crate::types::Timestamp;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Idle instances (`E`) by component digest, each with the app whose grants its store holds.
pub(crate) struct WarmPool<E> {
    idle: Mutex<Idle<E>>,
}

struct Idle<E> {
    by_digest: HashMap<String, Vec<Kept<E>>>,
    /// The linear memory of every instance kept.
    bytes: usize,
    budget: usize,
    /// Stamps the instances as they are returned: the smallest is the least recently returned.
    returned: u64,
}

struct Kept<E> {
    entry: E,
    app: Option<Arc<str>>,
    bytes: usize,
    returned: u64,
    /// When it was returned, by the engine's clock.
    returned_at: Timestamp,
}

impl<E> WarmPool<E> {
    /// Keeps instances whose linear memory together is at most `budget` bytes.
    pub(crate) fn new(budget: usize) -> Self {
        WarmPool {
            idle: Mutex::new(Idle {
                by_digest: HashMap::new(),
                bytes: 0,
                budget,
                returned: 0,
            }),
        }
    }

    /// The most recently returned idle instance of `digest` whose store holds `app`'s grants.
    pub(crate) fn take(&self, digest: &str, app: Option<&str>) -> Option<E> {
        let mut idle = self.lock();
        let kept = idle.by_digest.get_mut(digest)?;
        let at = kept.iter().rposition(|k| k.app.as_deref() == app)?;
        let taken = kept.remove(at);
        idle.bytes -= taken.bytes;
        idle.count_kept();
        Some(taken.entry)
    }

    /// Keeps `entry` (holding `bytes` of linear memory, `app`'s grants), returned at
    /// `returned_at`, dropping the least recently returned instances while the kept ones pass
    /// the budget; an instance bigger than the whole budget is not kept.
    pub(crate) fn put(
        &self,
        digest: &str,
        app: Option<Arc<str>>,
        bytes: usize,
        entry: E,
        returned_at: Timestamp,
    ) {
        let mut dropped = Vec::new();
        {
            let mut idle = self.lock();
            if bytes > idle.budget {
                dropped.push(entry);
            } else {
                idle.returned += 1;
                let returned = idle.returned;
                idle.bytes += bytes;
                let kept = Kept {
                    entry,
                    app,
                    bytes,
                    returned,
                    returned_at,
                };
                idle.by_digest
                    .entry(digest.to_owned())
                    .or_default()
                    .push(kept);
                while idle.bytes > idle.budget {
                    dropped.extend(idle.drop_oldest());
                }
            }
            idle.count_kept();
        }
        // A store is dropped outside the lock: freeing its memory takes a while.
        drop(dropped);
    }

    /// Drops the instances returned at `before` or earlier (idle since), and says how many.
    pub(crate) fn drop_idle(&self, before: Timestamp) -> usize {
        let mut dropped = Vec::new();
        {
            let mut idle = self.lock();
            let Idle {
                by_digest, bytes, ..
            } = &mut *idle;
            by_digest.retain(|_, kept| {
                // In the order returned: the idle ones come first.
                let stale = kept.partition_point(|k| k.returned_at <= before);
                for gone in kept.drain(..stale) {
                    *bytes -= gone.bytes;
                    dropped.push(gone.entry);
                }
                !kept.is_empty()
            });
            idle.count_kept();
        }
        let count = dropped.len();
        // A store is dropped outside the lock: freeing its memory takes a while.
        drop(dropped);
        count
    }

    /// The instances kept.
    pub(crate) fn len(&self) -> usize {
        self.lock().kept()
    }

    /// Drops every idle instance (the instance slots are all taken).
    pub(crate) fn clear(&self) {
        let dropped = {
            let mut idle = self.lock();
            idle.bytes = 0;
            let dropped = std::mem::take(&mut idle.by_digest);
            idle.count_kept();
            dropped
        };
        drop(dropped);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Idle<E>> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl<E> Idle<E> {
    fn kept(&self) -> usize {
        self.by_digest.values().map(Vec::len).sum()
    }

    /// Reports the instances kept.
    fn count_kept(&self) {
        metrics::warm_activities(self.kept());
    }

    /// Removes the least recently returned instance of any component.
    fn drop_oldest(&mut self) -> Option<E> {
        // Each component's instances are in the order they were returned: the oldest is the
        // first of one of them.
        let digest = (self.by_digest.iter())
            .filter_map(|(digest, kept)| Some((kept.first()?.returned, digest)))
            .min()?
            .1
            .clone();
        let kept = self.by_digest.get_mut(&digest)?;
        let oldest = kept.remove(0);
        if kept.is_empty() {
            self.by_digest.remove(&digest);
        }
        self.bytes -= oldest.bytes;
        Some(oldest.entry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: usize = 1 << 20;

    #[test]
    fn a_call_takes_the_latest_instance_of_its_component_and_app() {
        let pool = WarmPool::new(100 * MIB);
        let app: Option<Arc<str>> = Some("billing".into());
        pool.put("a", None, MIB, 1, 0);
        pool.put("a", app.clone(), MIB, 2, 0);
        pool.put("a", None, MIB, 3, 0);
        pool.put("b", None, MIB, 4, 0);
        assert_eq!(pool.take("a", None), Some(3));
        assert_eq!(pool.take("a", None), Some(1));
        assert_eq!(pool.take("a", None), None, "the other is another app's");
        assert_eq!(pool.take("a", Some("billing")), Some(2));
        assert_eq!(pool.take("c", None), None);
        assert_eq!(pool.take("b", None), Some(4));
    }

    #[test]
    fn past_its_budget_the_pool_drops_the_least_recently_returned() {
        let pool = WarmPool::new(10 * MIB);
        pool.put("python", None, 4 * MIB, 1, 0);
        pool.put("rust", None, MIB, 2, 0);
        pool.put("python", None, 4 * MIB, 3, 0);
        // 9 MiB kept; 4 more pass the budget: the first Python instance goes, not the newer.
        pool.put("python", None, 4 * MIB, 4, 0);
        assert_eq!(pool.take("python", None), Some(4));
        assert_eq!(pool.take("python", None), Some(3));
        assert_eq!(pool.take("python", None), None);
        assert_eq!(pool.take("rust", None), Some(2));
        // Taking gave the memory back: three fit again.
        for n in 5..8 {
            pool.put("python", None, 3 * MIB, n, 0);
        }
        pool.put("rust", None, MIB, 8, 0);
        assert_eq!(pool.take("python", None), Some(7));
        assert_eq!(pool.take("rust", None), Some(8));
    }

    #[test]
    fn an_instance_bigger_than_the_budget_is_not_kept_and_clear_empties_the_pool() {
        let pool = WarmPool::new(10 * MIB);
        pool.put("huge", None, 11 * MIB, 1, 0);
        assert_eq!(pool.take("huge", None), None);
        pool.put("small", None, MIB, 2, 0);
        pool.clear();
        assert_eq!(pool.take("small", None), None);
        pool.put("small", None, 10 * MIB, 3, 0);
        assert_eq!(
            pool.take("small", None),
            Some(3),
            "clear gave the budget back"
        );
    }

    #[test]
    fn instances_idle_since_a_time_are_dropped() {
        let pool = WarmPool::new(100 * MIB);
        pool.put("python", None, MIB, 1, 1_000);
        pool.put("rust", None, MIB, 2, 2_000);
        pool.put("python", None, MIB, 3, 3_000);
        assert_eq!(pool.drop_idle(999), 0);
        assert_eq!(pool.drop_idle(2_000), 2, "1 and 2 were idle since 2,000");
        assert_eq!(pool.take("rust", None), None);
        assert_eq!(pool.take("python", None), Some(3));
        pool.put("python", None, MIB, 3, 5_000);
        assert_eq!(pool.drop_idle(u64::MAX), 1);
        assert_eq!(pool.take("python", None), None);
        pool.put("python", None, 100 * MIB, 4, 6_000);
        assert_eq!(
            pool.take("python", None),
            Some(4),
            "dropping gave the budget back"
        );
    }
}
