//! Activity results, written in batches ([`super::batch`]).

use super::batch::BatchWrite;
use super::*;

/// An activity attempt's result to deliver.
pub(super) struct ActivityResult {
    /// The task's id and lock token: the result is written only while the token holds it.
    pub(super) id: i64,
    pub(super) lock_token: String,
    /// The `TaskCompleted` or `TaskFailed` for the instance's inbox.
    pub(super) event: EventKind,
    pub(super) logs: Vec<LogLine>,
    pub(super) now: Timestamp,
}

/// Delivers activity results: each task goes, its logs and its result arrive in its
/// instance's inbox, or, for a task its token no longer holds, nothing happens.
pub(super) struct ActivityResults;

impl BatchWrite for ActivityResults {
    type Item = ActivityResult;

    async fn write(
        &self,
        client: &deadpool_postgres::ClientWrapper,
        results: &[ActivityResult],
    ) -> StoreResult<Vec<bool>> {
        let ids: Vec<i64> = results.iter().map(|r| r.id).collect();
        let tokens: Vec<&str> = results.iter().map(|r| r.lock_token.as_str()).collect();
        let kinds: Vec<&str> = results.iter().map(|r| r.event.label()).collect();
        let events = results
            .iter()
            .map(|r| serde_json::to_string(&r.event))
            .collect::<Result<Vec<_>, _>>()?;
        let times: Vec<i64> = results.iter().map(|r| r.now as i64).collect();
        let logs = results
            .iter()
            .flat_map(|r| r.logs.iter().map(|l| (r.id, l)));
        let (log_tasks, logs): (Vec<i64>, Vec<&LogLine>) = logs.unzip();
        let (log_times, log_levels, log_lines) = log_columns(logs);
        let delivered = client
            .query_prepared(
                "WITH result AS ( \
                     SELECT * FROM unnest($1::BIGINT[], $2::TEXT[], $3::TEXT[], $4::TEXT[], \
                         $5::BIGINT[]) WITH ORDINALITY AS r(id, token, kind, event, at, n)), \
                 done AS ( \
                     DELETE FROM activities a USING result r \
                     WHERE a.id = r.id AND a.lock_token = r.token \
                     RETURNING r.id, r.n, a.instance_id, a.execution_id, r.kind, r.event, r.at), \
                 logged AS ( \
                     INSERT INTO logs (instance_id, timestamp, level, message) \
                     SELECT done.instance_id, l.timestamp, l.level, l.message \
                     FROM done JOIN unnest($6::BIGINT[], $7::BIGINT[], $8::TEXT[], $9::TEXT[]) \
                         WITH ORDINALITY AS l(task, timestamp, level, message, k) \
                         ON l.task = done.id \
                     ORDER BY l.k), \
                 delivered AS ( \
                     INSERT INTO inbox (instance_id, execution_id, kind, event, visible_at) \
                     SELECT instance_id, execution_id, kind, event, at FROM done ORDER BY n) \
                 SELECT id FROM done",
                &[
                    &ids,
                    &tokens,
                    &kinds,
                    &events,
                    &times,
                    &log_tasks,
                    &log_times,
                    &log_levels,
                    &log_lines,
                ],
            )
            .await?;
        let delivered: std::collections::HashSet<i64> = delivered
            .iter()
            .map(|row| row.try_get(0))
            .collect::<Result<_, _>>()?;
        Ok(results.iter().map(|r| delivered.contains(&r.id)).collect())
    }
}
