//! Users and dashboard sessions in MySQL. Every change is written together with its audit row
//! in one transaction (API tokens: `tokens.rs`; the audit log: `audit_log.rs`).

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::QueryBuilder;
use utoipa::ToSchema;

use super::StoreError;
use super::audit_log::write_audit;
use super::mysql::MySqlStore;
use crate::audit::AuditRecord;
use crate::auth::Role;

/// An account as the API shows it (never the hash).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct User {
    pub id: u64,
    pub username: String,
    pub role: Role,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_login_at: Option<DateTime<Utc>>,
}

/// An account with its password hash, for login only.
#[derive(Debug, Clone)]
pub struct UserLogin {
    pub user: User,
    pub password_hash: String,
}

/// Changes to an account; `None` leaves a field alone.
#[derive(Debug, Clone, Default)]
pub struct UserChange {
    pub role: Option<Role>,
    pub password_hash: Option<String>,
    pub disabled: Option<bool>,
}

#[async_trait::async_trait]
pub trait AccountStore: Send + Sync {
    async fn count_users(&self) -> Result<u64, StoreError>;
    /// `Conflict` when the name is taken.
    async fn create_user(
        &self,
        username: &str,
        password_hash: &str,
        role: Role,
        audit: AuditRecord,
    ) -> Result<User, StoreError>;
    /// Creates an admin only while no account exists at all (one statement, so two setups
    /// racing cannot both succeed); `None` when an account exists.
    async fn create_first_admin(
        &self,
        username: &str,
        password_hash: &str,
        audit: AuditRecord,
    ) -> Result<Option<User>, StoreError>;
    async fn get_user(&self, id: u64) -> Result<Option<User>, StoreError>;
    async fn user_for_login(&self, username: &str) -> Result<Option<UserLogin>, StoreError>;
    async fn list_users(&self) -> Result<Vec<User>, StoreError>;
    /// `None` when no such user. A new password or disabling ends the user's sessions.
    async fn change_user(
        &self,
        id: u64,
        change: &UserChange,
        audit: AuditRecord,
    ) -> Result<Option<User>, StoreError>;
    async fn delete_user(&self, id: u64, audit: AuditRecord) -> Result<bool, StoreError>;

    async fn create_session(
        &self,
        user_id: u64,
        id_hash: &str,
        csrf_token: &str,
        expires_at: DateTime<Utc>,
        audit: AuditRecord,
    ) -> Result<(), StoreError>;
    /// The live session's user (enabled) and CSRF token.
    async fn session_user(
        &self,
        id_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(User, String)>, StoreError>;
    async fn delete_session(&self, id_hash: &str, audit: AuditRecord) -> Result<(), StoreError>;
}

/// Refuses (409) a change that would leave no enabled admin, inside the change's own
/// transaction: every enabled admin's row is locked first, in id order, so two admins
/// demoting each other at once are serialized (the second sees the first's change) instead of
/// both passing a check made before either wrote.
async fn keep_an_admin(
    tx: &mut sqlx::Transaction<'_, sqlx::MySql>,
    id: u64,
) -> Result<(), StoreError> {
    let admins: Vec<(u64,)> = sqlx::query_as(
        "SELECT id FROM users WHERE role = 'admin' AND disabled = FALSE ORDER BY id FOR UPDATE",
    )
    .fetch_all(&mut **tx)
    .await?;
    if admins.len() == 1 && admins[0].0 == id {
        return Err(StoreError::Conflict(
            "this is the last enabled admin; make another admin first".into(),
        ));
    }
    Ok(())
}

#[derive(sqlx::FromRow)]
struct UserRow {
    id: u64,
    username: String,
    password_hash: String,
    role: String,
    disabled: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    last_login_at: Option<DateTime<Utc>>,
}

const USER_COLUMNS: &str =
    "id, username, password_hash, role, disabled, created_at, updated_at, last_login_at";

pub(super) fn stored_role(role: &str) -> Result<Role, StoreError> {
    Role::parse(role).ok_or_else(|| StoreError::Other(format!("stored role {role:?} unknown")))
}

impl UserRow {
    fn into_login(self) -> Result<UserLogin, StoreError> {
        Ok(UserLogin {
            user: User {
                id: self.id,
                role: stored_role(&self.role)?,
                username: self.username,
                disabled: self.disabled,
                created_at: self.created_at,
                updated_at: self.updated_at,
                last_login_at: self.last_login_at,
            },
            password_hash: self.password_hash,
        })
    }
}

pub(super) fn name_taken(e: sqlx::Error, what: &str, name: &str) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            StoreError::Conflict(format!("a {what} named {name:?} already exists"))
        }
        _ => e.into(),
    }
}

impl MySqlStore {
    /// Inserts a user with its audit row; with `only_first`, only while no account exists (one
    /// statement, so racing setups cannot both succeed), and `None` when one does.
    async fn insert_user(
        &self,
        username: &str,
        password_hash: &str,
        role: Role,
        only_first: bool,
        audit: AuditRecord,
    ) -> Result<Option<User>, StoreError> {
        let now = Utc::now();
        let mut tx = self.pool().begin().await?;
        let condition = if only_first {
            " WHERE NOT EXISTS (SELECT 1 FROM users)"
        } else {
            ""
        };
        let sql = format!(
            "INSERT INTO users (username, password_hash, role, disabled, created_at, updated_at) \
             SELECT ?, ?, ?, FALSE, ?, ? FROM DUAL{condition}"
        );
        let done = sqlx::query(&sql)
            .bind(username)
            .bind(password_hash)
            .bind(role.as_str())
            .bind(now)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(|e| name_taken(e, "user", username))?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        let id = done.last_insert_id();
        let user = Self::user_in(&mut tx, id)
            .await?
            .ok_or_else(|| StoreError::Other("the new user vanished".into()))?;
        write_audit(&mut tx, &audit.target(id.to_string()).after(&user)).await?;
        tx.commit().await?;
        Ok(Some(user))
    }

    async fn user_in(
        tx: &mut sqlx::Transaction<'_, sqlx::MySql>,
        id: u64,
    ) -> Result<Option<User>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = ? FOR UPDATE");
        let row: Option<UserRow> = sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(&mut **tx)
            .await?;
        row.map(|r| r.into_login().map(|l| l.user)).transpose()
    }
}

#[async_trait::async_trait]
impl AccountStore for MySqlStore {
    async fn count_users(&self) -> Result<u64, StoreError> {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users")
            .fetch_one(self.pool())
            .await?;
        Ok(n as u64)
    }

    async fn create_user(
        &self,
        username: &str,
        password_hash: &str,
        role: Role,
        audit: AuditRecord,
    ) -> Result<User, StoreError> {
        self.insert_user(username, password_hash, role, false, audit)
            .await?
            .ok_or_else(|| StoreError::Other("the new user vanished".into()))
    }

    async fn create_first_admin(
        &self,
        username: &str,
        password_hash: &str,
        audit: AuditRecord,
    ) -> Result<Option<User>, StoreError> {
        // Racing setups are the point of this statement: when InnoDB rolls one back (a
        // deadlock, or MariaDB's auto-increment error 1467), trying again finds the winner's
        // account and answers `None`, instead of a 503 or 500 to someone who merely lost.
        let mut attempts = 0;
        loop {
            match self
                .insert_user(username, password_hash, Role::Admin, true, audit.clone())
                .await
            {
                Err(StoreError::Retry(_)) if attempts < 3 => attempts += 1,
                other => return other,
            }
        }
    }

    async fn get_user(&self, id: u64) -> Result<Option<User>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?");
        let row: Option<UserRow> = sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.map(|r| r.into_login().map(|l| l.user)).transpose()
    }

    async fn user_for_login(&self, username: &str) -> Result<Option<UserLogin>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE username = ?");
        let row: Option<UserRow> = sqlx::query_as(&sql)
            .bind(username)
            .fetch_optional(self.pool())
            .await?;
        row.map(UserRow::into_login).transpose()
    }

    async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users ORDER BY username");
        let rows: Vec<UserRow> = sqlx::query_as(&sql).fetch_all(self.pool()).await?;
        rows.into_iter()
            .map(|r| r.into_login().map(|l| l.user))
            .collect()
    }

    async fn change_user(
        &self,
        id: u64,
        change: &UserChange,
        audit: AuditRecord,
    ) -> Result<Option<User>, StoreError> {
        let mut tx = self.pool().begin().await?;
        let demotes =
            change.role.is_some_and(|r| r != Role::Admin) || change.disabled == Some(true);
        if demotes {
            keep_an_admin(&mut tx, id).await?;
        }
        let Some(before) = Self::user_in(&mut tx, id).await? else {
            return Ok(None);
        };
        let mut query = QueryBuilder::new("UPDATE users SET updated_at = ");
        query.push_bind(Utc::now());
        if let Some(role) = change.role {
            query.push(", role = ").push_bind(role.as_str());
        }
        if let Some(hash) = &change.password_hash {
            query.push(", password_hash = ").push_bind(hash);
        }
        if let Some(disabled) = change.disabled {
            query.push(", disabled = ").push_bind(disabled);
        }
        query.push(" WHERE id = ").push_bind(id);
        query.build().execute(&mut *tx).await?;
        if change.password_hash.is_some() || change.disabled == Some(true) {
            sqlx::query("DELETE FROM sessions WHERE user_id = ?")
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        let after = Self::user_in(&mut tx, id)
            .await?
            .ok_or_else(|| StoreError::Other("the user vanished".into()))?;
        let mut audit = audit.target(id.to_string()).before(&before).after(&after);
        if change.password_hash.is_some()
            && let Some(after) = audit.after.as_mut()
        {
            // The hash is never recorded; that the password changed is.
            after["password_changed"] = serde_json::Value::Bool(true);
        }
        write_audit(&mut tx, &audit).await?;
        tx.commit().await?;
        Ok(Some(after))
    }

    async fn delete_user(&self, id: u64, audit: AuditRecord) -> Result<bool, StoreError> {
        let mut tx = self.pool().begin().await?;
        keep_an_admin(&mut tx, id).await?;
        let Some(before) = Self::user_in(&mut tx, id).await? else {
            return Ok(false);
        };
        sqlx::query("DELETE FROM sessions WHERE user_id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        // Revoked, not only refused while the owner is missing: the refusal must not depend on
        // the id never being handed out again.
        sqlx::query(
            "UPDATE api_tokens SET revoked_at = ? WHERE owner_user_id = ? AND revoked_at IS NULL",
        )
        .bind(Utc::now())
        .bind(id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM users WHERE id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        write_audit(&mut tx, &audit.target(id.to_string()).before(&before)).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn create_session(
        &self,
        user_id: u64,
        id_hash: &str,
        csrf_token: &str,
        expires_at: DateTime<Utc>,
        audit: AuditRecord,
    ) -> Result<(), StoreError> {
        let now = Utc::now();
        let mut tx = self.pool().begin().await?;
        // Expired sessions are swept here rather than by a loop of their own.
        sqlx::query("DELETE FROM sessions WHERE expires_at < ? LIMIT 1000")
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO sessions (id_hash, user_id, csrf_token, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(id_hash)
        .bind(user_id)
        .bind(csrf_token)
        .bind(now)
        .bind(expires_at)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE users SET last_login_at = ? WHERE id = ?")
            .bind(now)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        write_audit(&mut tx, &audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn session_user(
        &self,
        id_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(User, String)>, StoreError> {
        let sql = format!(
            "SELECT {}, s.csrf_token FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.id_hash = ? AND s.expires_at > ? AND NOT u.disabled",
            USER_COLUMNS
                .split(", ")
                .map(|c| format!("u.{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        #[derive(sqlx::FromRow)]
        struct Row {
            #[sqlx(flatten)]
            user: UserRow,
            csrf_token: String,
        }
        let row: Option<Row> = sqlx::query_as(&sql)
            .bind(id_hash)
            .bind(now)
            .fetch_optional(self.pool())
            .await?;
        match row {
            None => Ok(None),
            Some(r) => Ok(Some((r.user.into_login()?.user, r.csrf_token))),
        }
    }

    async fn delete_session(&self, id_hash: &str, audit: AuditRecord) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        sqlx::query("DELETE FROM sessions WHERE id_hash = ?")
            .bind(id_hash)
            .execute(&mut *tx)
            .await?;
        write_audit(&mut tx, &audit).await?;
        tx.commit().await?;
        Ok(())
    }
}
