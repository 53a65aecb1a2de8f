//! Writes of one kind that many tasks make at once (turn commits, activity results) go to the
//! server together: one statement over arrays writes a batch, in one transaction and one
//! round trip, where one statement each would cost the server a plan execution, a commit and
//! a round trip apiece. That per-statement cost, not the disk, was what bounded a host.
//!
//! A [`Batcher`] queues the writes and a task of its own sends them: every write queued while
//! the previous batches were out goes in the next, up to [`MAX_BATCH`], with at most
//! [`IN_FLIGHT`] batches out at once (the server works on one while the next is sent). Each
//! item is written or refused on its own (its lock token no longer holds: `LeaseLost`). A
//! batch the server rejects as a whole (one item it cannot store, a lost connection) is
//! written again item by item, so only the item at fault fails.

use super::{Pool, StoreError, StoreResult};
use std::future::Future;
use std::sync::Arc;
use tokio::sync::{Semaphore, mpsc, oneshot};

/// Most items in one batch.
pub(super) const MAX_BATCH: usize = 256;

/// Most batches of one kind out at once.
pub(super) const IN_FLIGHT: usize = 2;

/// One kind of batched write.
pub(super) trait BatchWrite: Send + Sync + 'static {
    type Item: Send + Sync + 'static;

    /// Writes `items` in one statement (a transaction of its own): for each, whether it was
    /// written (`false`: its lock token no longer holds it, and nothing of it was written).
    fn write<'a>(
        &'a self,
        client: &'a deadpool_postgres::ClientWrapper,
        items: &'a [Self::Item],
    ) -> impl Future<Output = StoreResult<Vec<bool>>> + Send + 'a;
}

type Request<I> = (I, oneshot::Sender<StoreResult<()>>);

/// Queues writes of one kind and sends them in batches; the task ends with the batcher.
pub(super) struct Batcher<W: BatchWrite> {
    queue: mpsc::UnboundedSender<Request<W::Item>>,
}

impl<W: BatchWrite> Batcher<W> {
    pub(super) fn start(pool: Pool, kind: W) -> Self {
        let (queue, requests) = mpsc::unbounded_channel();
        tokio::spawn(send_batches(pool, Arc::new(kind), requests));
        Batcher { queue }
    }

    /// Writes `item` with the others queued meanwhile; `LeaseLost` when it was refused.
    pub(super) async fn write(&self, item: W::Item) -> StoreResult<()> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send((item, reply))
            .map_err(|_| StoreError::Backend("PostgreSQL: the store is closed".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Backend("PostgreSQL: the batch write was dropped".into()))?
    }
}

async fn send_batches<W: BatchWrite>(
    pool: Pool,
    kind: Arc<W>,
    mut requests: mpsc::UnboundedReceiver<Request<W::Item>>,
) {
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let mut batch = Vec::new();
        if requests.recv_many(&mut batch, MAX_BATCH).await == 0 {
            return; // the batcher is gone
        }
        let (pool, kind) = (pool.clone(), kind.clone());
        tokio::spawn(async move {
            let (items, replies): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
            let outcomes = write_batch(&pool, &*kind, &items).await;
            drop(slot);
            for (reply, outcome) in replies.into_iter().zip(outcomes) {
                let _ = reply.send(outcome);
            }
        });
    }
}

/// Each item's outcome: the batch's, or, when the batch failed as a whole, its own alone.
async fn write_batch<W: BatchWrite>(
    pool: &Pool,
    kind: &W,
    items: &[W::Item],
) -> Vec<StoreResult<()>> {
    let outcome = |written: bool| {
        if written {
            Ok(())
        } else {
            Err(StoreError::LeaseLost)
        }
    };
    match write_once(pool, kind, items).await {
        Ok(written) => written.into_iter().map(outcome).collect(),
        Err(e) if items.len() == 1 => vec![Err(e)],
        Err(e) => {
            tracing::debug!(
                "a batch of {} writes failed ({e}); writing each alone",
                items.len()
            );
            let mut outcomes = Vec::with_capacity(items.len());
            for item in items.chunks(1) {
                outcomes.push(match write_once(pool, kind, item).await {
                    Ok(written) => outcome(written[0]),
                    Err(e) => Err(e),
                });
            }
            outcomes
        }
    }
}

async fn write_once<W: BatchWrite>(
    pool: &Pool,
    kind: &W,
    items: &[W::Item],
) -> StoreResult<Vec<bool>> {
    let client = pool.get().await?;
    let started = std::time::Instant::now();
    let written = kind.write(&client, items).await;
    crate::metrics::store_commit("postgres", items.len(), written.is_ok(), started.elapsed());
    let written = written?;
    debug_assert_eq!(written.len(), items.len());
    Ok(written)
}
