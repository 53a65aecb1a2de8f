//! Writes one handle makes to one instance (or entity) apply in the order they were called,
//! as they do on SQLite's single writer: two messages sent back to back arrive in that order,
//! and of two creations of one id the first wins. Without this, requests running at once on
//! different pooled connections could commit in any order. Writes by different handles (other
//! hosts) are ordered by the database's row locks, as their callers cannot tell which came
//! first anyway.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// A fair (first come, first served) queue per key.
#[derive(Default)]
pub(super) struct KeyedQueues {
    queues: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl KeyedQueues {
    /// Runs `write` once every write queued before it on `key` by this handle has finished.
    /// The place in the queue is taken when the returned future is first polled.
    pub(super) async fn in_order<T>(&self, key: String, write: impl Future<Output = T>) -> T {
        let queue = self
            .queues
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(key.clone())
            .or_default()
            .clone();
        let result = {
            let _turn = queue.lock().await;
            write.await
        };
        let mut queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        // Clones are made under this lock: two strong references are the map's and ours, so
        // no one else is queued on this key and the queue can go.
        if Arc::strong_count(&queue) == 2 {
            queues.remove(&key);
        }
        result
    }
}
