//! Statements prepared once per connection and reused.
//!
//! A statement given as text is parsed, planned and described on every call, one round trip
//! before the one that runs it. Through [`Prepared`] it is prepared the first time a pooled
//! connection runs it (`deadpool_postgres`'s statement cache, one per connection) and only
//! bound and executed after that: one round trip a call, and the server plans it once it has
//! seen it a few times (a generic plan) rather than every time. The backend's statements are
//! fixed texts, or one of a few shapes (a list filter's clauses), so a connection's cache
//! stays small.

use super::{Row, StoreResult};
use std::future::Future;
use tokio_postgres::types::ToSql;

/// Runs a statement prepared once per connection: a pooled connection or a transaction on one.
pub(super) trait Prepared: Sync {
    /// Like `execute`: the rows changed.
    fn execute_prepared<'a>(
        &'a self,
        sql: &'a str,
        params: &'a [&'a (dyn ToSql + Sync)],
    ) -> impl Future<Output = StoreResult<u64>> + Send + 'a;

    /// Like `query`: every row.
    fn query_prepared<'a>(
        &'a self,
        sql: &'a str,
        params: &'a [&'a (dyn ToSql + Sync)],
    ) -> impl Future<Output = StoreResult<Vec<Row>>> + Send + 'a;

    /// Like `query_one`: exactly one row.
    fn query_one_prepared<'a>(
        &'a self,
        sql: &'a str,
        params: &'a [&'a (dyn ToSql + Sync)],
    ) -> impl Future<Output = StoreResult<Row>> + Send + 'a;

    /// Like `query_opt`: at most one row.
    fn query_opt_prepared<'a>(
        &'a self,
        sql: &'a str,
        params: &'a [&'a (dyn ToSql + Sync)],
    ) -> impl Future<Output = StoreResult<Option<Row>>> + Send + 'a;
}

/// `Prepared` for a deadpool type with `prepare_cached` that derefs to a tokio-postgres client
/// or transaction.
macro_rules! prepared {
    ($($ty:ty),*) => {$(
        impl Prepared for $ty {
            async fn execute_prepared<'a>(
                &'a self,
                sql: &'a str,
                params: &'a [&'a (dyn ToSql + Sync)],
            ) -> StoreResult<u64> {
                let statement = self.prepare_cached(sql).await?;
                Ok(self.execute(&statement, params).await?)
            }

            async fn query_prepared<'a>(
                &'a self,
                sql: &'a str,
                params: &'a [&'a (dyn ToSql + Sync)],
            ) -> StoreResult<Vec<Row>> {
                let statement = self.prepare_cached(sql).await?;
                Ok(self.query(&statement, params).await?)
            }

            async fn query_one_prepared<'a>(
                &'a self,
                sql: &'a str,
                params: &'a [&'a (dyn ToSql + Sync)],
            ) -> StoreResult<Row> {
                let statement = self.prepare_cached(sql).await?;
                Ok(self.query_one(&statement, params).await?)
            }

            async fn query_opt_prepared<'a>(
                &'a self,
                sql: &'a str,
                params: &'a [&'a (dyn ToSql + Sync)],
            ) -> StoreResult<Option<Row>> {
                let statement = self.prepare_cached(sql).await?;
                Ok(self.query_opt(&statement, params).await?)
            }
        }
    )*};
}

prepared!(
    deadpool_postgres::ClientWrapper,
    deadpool_postgres::Transaction<'_>
);
