//! Who may do what: roles, the caller behind a request and the address it came from, password
//! hashing, API tokens and sessions, login throttling, the first admin, and job secrets
//! encrypted at rest.

pub mod bootstrap;
pub mod client_addr;
pub mod password;
pub mod role;
pub mod secrets;
pub mod settings;
pub mod throttle;
pub mod token;

use serde::Serialize;
use utoipa::ToSchema;

pub use role::Role;

/// Who made a change, as the audit log records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Actor {
    pub kind: ActorKind,
    /// The user's or token's id; none for the system.
    pub id: Option<String>,
    /// The user name, the token's name, or what the system did it for.
    pub name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    User,
    Token,
    System,
}

impl ActorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActorKind::User => "user",
            ActorKind::Token => "token",
            ActorKind::System => "system",
        }
    }

    pub fn parse(s: &str) -> ActorKind {
        match s {
            "user" => ActorKind::User,
            "token" => ActorKind::Token,
            _ => ActorKind::System,
        }
    }
}

impl Actor {
    pub fn system(name: &str) -> Self {
        Self {
            kind: ActorKind::System,
            id: None,
            name: name.to_owned(),
        }
    }
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Principal {
    pub actor: Actor,
    pub role: Role,
    /// Set when the caller came with a session cookie.
    pub session: Option<SessionInfo>,
}

#[derive(Debug, Clone)]
pub struct SessionInfo {
    pub id_hash: String,
    pub csrf_token: String,
}
