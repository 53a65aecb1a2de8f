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
        // Removes the queue once no one waits on it, also when the caller drops the write.
        let leave = Leave {
            queues: self,
            key,
            queue,
        };
        let _turn = leave.queue.lock().await;
        write.await
    }
}

/// Leaves a key's queue: the last one out removes it.
struct Leave<'a> {
    queues: &'a KeyedQueues,
    key: String,
    queue: Arc<tokio::sync::Mutex<()>>,
}

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        let mut queues = self.queues.queues.lock().unwrap_or_else(|e| e.into_inner());
        // Clones are made under this lock. Two strong references are the map's and this
        // guard's: no one else is queued on this key.
        if Arc::strong_count(&self.queue) <= 2 {
            queues.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes on one key run in the order they were called, and the queue goes once no one
    /// waits on it, also after a write was dropped half-way.
    #[tokio::test]
    async fn writes_on_one_key_run_in_call_order_and_queues_are_removed() {
        let queues = KeyedQueues::default();
        let order = Mutex::new(Vec::new());
        let write = |n: u32| {
            let (queues, order) = (&queues, &order);
            queues.in_order("k".into(), async move {
                tokio::task::yield_now().await;
                order.lock().unwrap().push(n);
            })
        };
        let (a, b, c) = (write(1), write(2), write(3));
        tokio::join!(c, b, a);
        assert_eq!(*order.lock().unwrap(), [3, 2, 1], "first polled, first run");
        assert!(queues.queues.lock().unwrap().is_empty());

        let mut held = Box::pin(write(4));
        assert!(poll_once(held.as_mut()).await.is_pending());
        drop(held);
        assert!(
            queues.queues.lock().unwrap().is_empty(),
            "a dropped write leaves"
        );
    }

    /// Polls `future` once, whatever it returns.
    async fn poll_once<F: Future + ?Sized>(
        future: std::pin::Pin<&mut F>,
    ) -> std::task::Poll<F::Output> {
        let mut future = Some(future);
        std::future::poll_fn(|cx| {
            std::task::Poll::Ready(future.take().expect("polled once").poll(cx))
        })
        .await
    }
}
