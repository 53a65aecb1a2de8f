//! Databases made for one run and dropped after it: `durable bench --db postgres://...` runs
//! each scenario in one, and the end-to-end tests give each test one.

use super::{StoreError, StoreResult};

/// A database created on a server for one run. Drop it with [`ScratchDatabase::drop_database`]
/// (which ends the connections still open to it); a value dropped without that leaves the
/// database behind.
#[derive(Debug)]
pub struct ScratchDatabase {
    /// The URL the database was created through (its database is the one connected to).
    server: String,
    name: String,
    /// The server's URL with the scratch database in it.
    url: String,
}

impl ScratchDatabase {
    /// Creates the database `name` (lowercase letters, digits and `_`) on the server at
    /// `server` (`postgres://user@host:port/database`: a database to connect to, and a user
    /// allowed to create databases).
    pub async fn create(server: &str, name: &str) -> StoreResult<ScratchDatabase> {
        super::schema::check_schema_name(name)?;
        admin(server, &format!("CREATE DATABASE {name}"))
            .await
            .map_err(|e| {
                StoreError::Backend(format!(
                    "cannot create the database {name}: {}",
                    e.to_string().trim_start_matches("storage failure: ")
                ))
            })?;
        Ok(ScratchDatabase {
            server: server.to_owned(),
            name: name.to_owned(),
            url: with_database(server, name),
        })
    }

    /// The database's URL, for `--db` and [`super::PostgresStore::connect`].
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The URL of the server it was created on.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// Drops the database, closing the connections hosts and processes still hold to it.
    pub async fn drop_database(self) -> StoreResult<()> {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        admin(&self.server, &sql).await
    }
}

/// A connection of its own to `url`, outside any pool, its task on the current runtime: for
/// what the store has no method for (administration, statistics, tests).
pub async fn client(url: &str) -> StoreResult<tokio_postgres::Client> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

/// Runs `sql` in the server URL's own database (`CREATE DATABASE` cannot run in the one it
/// makes).
async fn admin(server: &str, sql: &str) -> StoreResult<()> {
    Ok(client(server).await?.batch_execute(sql).await?)
}

/// `server`'s URL with its database replaced by `database`.
pub fn with_database(server: &str, database: &str) -> String {
    let (base, query) = match server.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (server, String::new()),
    };
    let authority = base.find("://").map_or(0, |i| i + 3);
    let end = base[authority..]
        .find('/')
        .map_or(base.len(), |i| authority + i);
    format!("{}/{database}{query}", &base[..end])
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn a_database_replaces_the_one_in_the_server_url() {
        let cases = [
            ("postgres://u@h:5432/test", "postgres://u@h:5432/d"),
            ("postgres://u@h:5432", "postgres://u@h:5432/d"),
            (
                "postgresql://u:p@h/x?sslmode=disable",
                "postgresql://u:p@h/d?sslmode=disable",
            ),
        ];
        for (server, expected) in cases {
            assert_eq!(with_database(server, "d"), expected, "{server}");
        }
    }
}
