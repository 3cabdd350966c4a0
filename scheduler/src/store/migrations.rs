//! The schema's versions: what this binary's migrations are, which a database has applied, and
//! applying the pending ones under a named lock. `crony-scheduler migrate [--dry-run]` and
//! every start go through here.
//!
//! Within `crony.v1` migrations only add (tables, nullable or defaulted columns, indexes), so a
//! binary older than the schema still runs on it: a migration the binary does not know is
//! reported, not refused, which is what lets schedulers of two versions run side by side
//! during a rolling upgrade (UPGRADING.md).

use std::collections::BTreeMap;

use sqlx::migrate::{Migrate, Migrator};
use sqlx::mysql::{MySqlConnectOptions, MySqlPool};
use sqlx::{ConnectOptions, Connection};

use super::StoreError;

static MIGRATIONS: Migrator = sqlx::migrate!("../migrations");

/// One migration: its version (the file name's number) and description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub version: i64,
    pub description: String,
}

/// Where a database stands against this binary's migrations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SchemaStatus {
    pub applied: Vec<Version>,
    pub pending: Vec<Version>,
    /// Applied, but newer than this binary: a later version migrated the database.
    pub unknown: Vec<i64>,
    /// Whether the database exists at all (a dry run does not create it).
    pub database_exists: bool,
}

/// Compares what a database applied with what this binary has. Pure.
pub fn compare(applied: &[i64], database_exists: bool) -> SchemaStatus {
    let known: BTreeMap<i64, String> = MIGRATIONS
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
        .map(|m| (m.version, m.description.to_string()))
        .collect();
    let version = |(v, d): (&i64, &String)| Version {
        version: *v,
        description: d.clone(),
    };
    SchemaStatus {
        applied: known
            .iter()
            .filter(|(v, _)| applied.contains(v))
            .map(version)
            .collect(),
        pending: known
            .iter()
            .filter(|(v, _)| !applied.contains(v))
            .map(version)
            .collect(),
        unknown: applied
            .iter()
            .copied()
            .filter(|v| !known.contains_key(v))
            .collect(),
        database_exists,
    }
}

/// Where the database of `options` stands, writing nothing (not even the database or the
/// migrations table).
pub async fn status(options: &MySqlConnectOptions) -> Result<SchemaStatus, StoreError> {
    let database = options.get_database().unwrap_or_default().to_owned();
    let mut server = options.clone().database("").connect().await?;
    let tables: Vec<(String,)> = sqlx::query_as(
        "SELECT TABLE_NAME FROM information_schema.TABLES \
         WHERE TABLE_SCHEMA = ? AND TABLE_NAME = '_sqlx_migrations'",
    )
    .bind(&database)
    .fetch_all(&mut server)
    .await?;
    let exists: Option<(String,)> =
        sqlx::query_as("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?")
            .bind(&database)
            .fetch_optional(&mut server)
            .await?;
    server.close().await?;
    if tables.is_empty() {
        return Ok(compare(&[], exists.is_some()));
    }
    let mut conn = options.connect().await?;
    let applied = conn
        .list_applied_migrations()
        .await
        .map_err(|e| StoreError::Other(format!("reading applied migrations: {e}")))?;
    conn.close().await?;
    let versions: Vec<i64> = applied.iter().map(|m| m.version).collect();
    Ok(compare(&versions, true))
}

/// Applies the pending migrations. Several schedulers may start at once on a new database;
/// sqlx's own migration lock did not keep them apart on MariaDB (duplicate-key errors), so a
/// named lock is held on the connection that migrates.
pub async fn apply(pool: &MySqlPool) -> Result<(), StoreError> {
    let mut conn = pool.acquire().await?;
    let (locked,): (Option<i64>,) = sqlx::query_as("SELECT GET_LOCK('crony_migrations', 60)")
        .fetch_one(&mut *conn)
        .await?;
    if locked != Some(1) {
        return Err(StoreError::Other(
            "timed out waiting for another scheduler's migrations".into(),
        ));
    }
    let mut migrator = Migrator {
        migrations: MIGRATIONS.migrations.clone(),
        ..Migrator::DEFAULT
    };
    // Newer migrations than this binary's are a newer scheduler's: additive, so run on.
    migrator.set_ignore_missing(true);
    let migrated = migrator.run(&mut *conn).await;
    sqlx::query("SELECT RELEASE_LOCK('crony_migrations')")
        .execute(&mut *conn)
        .await?;
    migrated.map_err(|e| StoreError::Other(format!("migrations failed: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_is_compared_with_the_binarys_migrations() {
        let all: Vec<i64> = MIGRATIONS.iter().map(|m| m.version).collect();
        let fresh = compare(&[], false);
        assert_eq!(fresh.pending.len(), all.len());
        assert!(fresh.applied.is_empty() && fresh.unknown.is_empty());

        let behind = compare(&all[..all.len() - 1], true);
        assert_eq!(behind.pending.len(), 1);
        assert_eq!(behind.pending[0].version, *all.last().unwrap());

        let mut ahead = all.clone();
        ahead.push(99_991_231_000_099);
        let newer = compare(&ahead, true);
        assert!(newer.pending.is_empty());
        assert_eq!(newer.unknown, [99_991_231_000_099]);
    }
}
