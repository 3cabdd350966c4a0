//! API tokens in MySQL: made by an admin with a role, stored as a digest, revoked but kept
//! for the audit trail, and owned by the account that made them.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::StoreError;
use super::accounts::{name_taken, stored_role};
use super::audit_log::write_audit;
use super::mysql::MySqlStore;
use crate::audit::AuditRecord;
use crate::auth::{ActorKind, Role};

/// An API token as the API lists it (never the token or its hash).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ApiToken {
    pub id: u64,
    pub name: String,
    pub role: Role,
    /// The token's first characters, to tell tokens apart.
    pub prefix: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// The account the token acts for: it stops working while that account is disabled or
    /// once it is deleted, and never exceeds the account's role. None: owned by the
    /// configuration (`CRONY_ADMIN_TOKEN`).
    pub owner_user_id: Option<u64>,
}

/// Where a token's owner stands now, read with the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenOwner {
    /// The configuration owns it.
    Configured,
    Active(Role),
    Disabled,
    Deleted,
}

impl TokenOwner {
    /// The role a token acts with: its own, capped at its owner's current one (a demoted
    /// admin's tokens act as what the admin now is); refused while the owner is disabled or
    /// after the owner was deleted.
    pub fn role_for(self, token_role: Role) -> Result<Role, &'static str> {
        match self {
            TokenOwner::Configured => Ok(token_role),
            TokenOwner::Active(owner) => Ok(token_role.min(owner)),
            TokenOwner::Disabled => Err("belongs to a disabled user"),
            TokenOwner::Deleted => Err("belongs to a deleted user"),
        }
    }
}

/// A new token's stored form.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub name: String,
    pub role: Role,
    pub hash: String,
    pub prefix: String,
    pub expires_at: Option<DateTime<Utc>>,
}

#[async_trait::async_trait]
pub trait TokenStore: Send + Sync {
    async fn create_token(
        &self,
        token: &NewToken,
        audit: AuditRecord,
    ) -> Result<ApiToken, StoreError>;
    async fn list_tokens(&self) -> Result<Vec<ApiToken>, StoreError>;
    async fn get_token(&self, id: u64) -> Result<Option<ApiToken>, StoreError>;
    /// The token and where its owner stands.
    async fn token_by_hash(&self, hash: &str)
    -> Result<Option<(ApiToken, TokenOwner)>, StoreError>;
    /// Revokes (keeps the row); `false` when no such token.
    async fn revoke_token(&self, id: u64, audit: AuditRecord) -> Result<bool, StoreError>;
    async fn touch_token(&self, id: u64, now: DateTime<Utc>) -> Result<(), StoreError>;
    /// Makes sure a token with this hash exists with this name and role (the configured
    /// `CRONY_ADMIN_TOKEN`); revoking it lasts until the configured value changes.
    async fn ensure_token(&self, token: &NewToken, audit: AuditRecord) -> Result<(), StoreError>;
}

#[derive(sqlx::FromRow)]
struct TokenRow {
    id: u64,
    name: String,
    role: String,
    prefix: String,
    created_by: String,
    created_at: DateTime<Utc>,
    expires_at: Option<DateTime<Utc>>,
    last_used_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
    owner_user_id: Option<u64>,
}

const TOKEN_COLUMNS: &str = "id, name, role, prefix, created_by, created_at, expires_at, \
     last_used_at, revoked_at, owner_user_id";

impl TryFrom<TokenRow> for ApiToken {
    type Error = StoreError;
    fn try_from(r: TokenRow) -> Result<Self, StoreError> {
        Ok(ApiToken {
            id: r.id,
            role: stored_role(&r.role)?,
            name: r.name,
            prefix: r.prefix,
            created_by: r.created_by,
            created_at: r.created_at,
            expires_at: r.expires_at,
            last_used_at: r.last_used_at,
            revoked_at: r.revoked_at,
            owner_user_id: r.owner_user_id,
        })
    }
}

/// A user's token is theirs; a token made with a token belongs to that token's owner, so
/// minting tokens cannot outlive an account; the configuration's tokens belong to nobody.
async fn owner_of_new_token(
    tx: &mut sqlx::Transaction<'_, sqlx::MySql>,
    audit: &AuditRecord,
) -> Result<Option<u64>, StoreError> {
    let actor_id = audit
        .actor
        .id
        .as_deref()
        .and_then(|id| id.parse::<u64>().ok());
    match (audit.actor.kind, actor_id) {
        (ActorKind::User, Some(id)) => Ok(Some(id)),
        (ActorKind::Token, Some(id)) => {
            let owner: Option<(Option<u64>,)> =
                sqlx::query_as("SELECT owner_user_id FROM api_tokens WHERE id = ?")
                    .bind(id)
                    .fetch_optional(&mut **tx)
                    .await?;
            Ok(owner.and_then(|(o,)| o))
        }
        _ => Ok(None),
    }
}

#[async_trait::async_trait]
impl TokenStore for MySqlStore {
    async fn create_token(
        &self,
        token: &NewToken,
        audit: AuditRecord,
    ) -> Result<ApiToken, StoreError> {
        let mut tx = self.pool().begin().await?;
        let owner = owner_of_new_token(&mut tx, &audit).await?;
        let done = sqlx::query(
            "INSERT INTO api_tokens (name, role, token_hash, prefix, created_by, created_at, \
             expires_at, owner_user_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&token.name)
        .bind(token.role.as_str())
        .bind(&token.hash)
        .bind(&token.prefix)
        .bind(&audit.actor.name)
        .bind(Utc::now())
        .bind(token.expires_at)
        .bind(owner)
        .execute(&mut *tx)
        .await
        .map_err(|e| name_taken(e, "token", &token.name))?;
        let id = done.last_insert_id();
        let sql = format!("SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE id = ?");
        let row: TokenRow = sqlx::query_as(&sql).bind(id).fetch_one(&mut *tx).await?;
        let created = ApiToken::try_from(row)?;
        write_audit(&mut tx, &audit.target(id.to_string()).after(&created)).await?;
        tx.commit().await?;
        Ok(created)
    }

    async fn list_tokens(&self) -> Result<Vec<ApiToken>, StoreError> {
        let sql = format!("SELECT {TOKEN_COLUMNS} FROM api_tokens ORDER BY id");
        let rows: Vec<TokenRow> = sqlx::query_as(&sql).fetch_all(self.pool()).await?;
        rows.into_iter().map(ApiToken::try_from).collect()
    }

    async fn get_token(&self, id: u64) -> Result<Option<ApiToken>, StoreError> {
        let sql = format!("SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE id = ?");
        let row: Option<TokenRow> = sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.map(ApiToken::try_from).transpose()
    }

    async fn token_by_hash(
        &self,
        hash: &str,
    ) -> Result<Option<(ApiToken, TokenOwner)>, StoreError> {
        let sql = format!("SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE token_hash = ?");
        let row: Option<TokenRow> = sqlx::query_as(&sql)
            .bind(hash)
            .fetch_optional(self.pool())
            .await?;
        let Some(token) = row.map(ApiToken::try_from).transpose()? else {
            return Ok(None);
        };
        let Some(owner_id) = token.owner_user_id else {
            return Ok(Some((token, TokenOwner::Configured)));
        };
        let owner: Option<(String, bool)> =
            sqlx::query_as("SELECT role, disabled FROM users WHERE id = ?")
                .bind(owner_id)
                .fetch_optional(self.pool())
                .await?;
        let owner = match owner {
            None => TokenOwner::Deleted,
            Some((_, true)) => TokenOwner::Disabled,
            Some((role, false)) => TokenOwner::Active(stored_role(&role)?),
        };
        Ok(Some((token, owner)))
    }

    async fn revoke_token(&self, id: u64, audit: AuditRecord) -> Result<bool, StoreError> {
        let mut tx = self.pool().begin().await?;
        let sql = format!("SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE id = ? FOR UPDATE");
        let row: Option<TokenRow> = sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(before) = row.map(ApiToken::try_from).transpose()? else {
            return Ok(false);
        };
        if before.revoked_at.is_some() {
            // Already revoked: nothing changes, nothing to record.
            return Ok(true);
        }
        let now = Utc::now();
        sqlx::query("UPDATE api_tokens SET revoked_at = ? WHERE id = ?")
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let after = ApiToken {
            revoked_at: Some(now),
            ..before.clone()
        };
        write_audit(
            &mut tx,
            &audit.target(id.to_string()).before(&before).after(&after),
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn touch_token(&self, id: u64, now: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query("UPDATE api_tokens SET last_used_at = ? WHERE id = ?")
            .bind(now)
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    async fn ensure_token(&self, token: &NewToken, audit: AuditRecord) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        let exists: Option<(u64,)> =
            sqlx::query_as("SELECT id FROM api_tokens WHERE token_hash = ? FOR UPDATE")
                .bind(&token.hash)
                .fetch_optional(&mut *tx)
                .await?;
        if exists.is_some() {
            return Ok(());
        }
        // A new configured value retires the previous configured token.
        sqlx::query(
            "UPDATE api_tokens SET revoked_at = ? WHERE name = ? AND created_by = ? AND revoked_at IS NULL",
        )
        .bind(Utc::now())
        .bind(&token.name)
        .bind(&audit.actor.name)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        match self.create_token(token, audit).await {
            // Another scheduler starting at the same moment created it.
            Ok(_) | Err(StoreError::Conflict(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_never_outranks_or_outlives_its_owner() {
        assert_eq!(
            TokenOwner::Configured.role_for(Role::Admin),
            Ok(Role::Admin)
        );
        assert_eq!(
            TokenOwner::Active(Role::Viewer).role_for(Role::Admin),
            Ok(Role::Viewer)
        );
        assert_eq!(
            TokenOwner::Active(Role::Admin).role_for(Role::Operator),
            Ok(Role::Operator)
        );
        assert!(TokenOwner::Disabled.role_for(Role::Viewer).is_err());
        assert!(TokenOwner::Deleted.role_for(Role::Viewer).is_err());
    }
}
