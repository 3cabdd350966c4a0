//! The three roles of design §5, ordered: each one may do everything the one below may.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads everything except accounts and tokens.
    Viewer,
    /// Jobs and executions (not shell jobs), and the audit log.
    Operator,
    /// Everything: users, tokens, agents, shell jobs.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "viewer" => Some(Role::Viewer),
            "operator" => Some(Role::Operator),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The least role a handler needs, as a type, so the requirement sits in its signature.
pub trait Required: Send + Sync + 'static {
    const ROLE: Role;
}

/// Any signed-in caller.
#[derive(Debug)]
pub struct Viewer;
/// Operators and admins.
#[derive(Debug)]
pub struct Operator;
/// Admins only.
#[derive(Debug)]
pub struct Admin;

impl Required for Viewer {
    const ROLE: Role = Role::Viewer;
}
impl Required for Operator {
    const ROLE: Role = Role::Operator;
}
impl Required for Admin {
    const ROLE: Role = Role::Admin;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered_and_round_trip() {
        assert!(Role::Viewer < Role::Operator && Role::Operator < Role::Admin);
        for role in [Role::Viewer, Role::Operator, Role::Admin] {
            assert_eq!(Role::parse(role.as_str()), Some(role));
            assert_eq!(
                serde_json::to_value(role).unwrap(),
                serde_json::json!(role.as_str())
            );
        }
        assert_eq!(Role::parse("root"), None);
    }
}
