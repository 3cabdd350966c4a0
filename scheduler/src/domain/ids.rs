//! Typed ids of jobs, agents and executions, so one can never be passed where another is meant.
//!
//! Each is a plain string on every wire: serde and sqlx see through it (the API's JSON and the
//! MySQL columns are unchanged), and API schemas show a string (fields say
//! `#[schema(value_type = String)]`: utoipa would otherwise reference a component per id type,
//! changing the OpenAPI document). Ids are not validated here; whoever accepts one from outside
//! (the API, the ingest edge) checks it as before.

use std::borrow::Borrow;
use std::fmt;

/// Defines one id type: the derives and conversions all three share.
macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Clone,
            PartialEq,
            Eq,
            Hash,
            PartialOrd,
            Ord,
            serde::Serialize,
            serde::Deserialize,
            sqlx::Type,
            utoipa::ToSchema,
        )]
        #[serde(transparent)]
        #[sqlx(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl From<String> for $name {
            fn from(raw: String) -> Self {
                Self(raw)
            }
        }

        impl From<&str> for $name {
            fn from(raw: &str) -> Self {
                Self(raw.to_owned())
            }
        }

        /// Back to a plain string where one leaves the typed domain (proto messages).
        impl From<$name> for String {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        /// Lets maps and sets keyed by the id be queried with a `&str`.
        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        /// Like the string itself (`"abc"`, not `JobId("abc")`): error messages and logs that
        /// print ids with `{:?}` read as they did when ids were strings.
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.0, f)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}

string_id! {
    /// A job's id (UUIDv7, chosen by the scheduler that created it).
    JobId
}

string_id! {
    /// An agent's id, as it registers in etcd.
    AgentId
}

string_id! {
    /// An execution's id (chosen by the agent that ran it).
    ExecutionId
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn serde_sees_a_plain_string() {
        let id = JobId::from("0190-abc");
        let json = serde_json::to_value(&id).unwrap();
        assert_eq!(json, serde_json::json!("0190-abc"));
        let back: JobId = serde_json::from_value(json).unwrap();
        assert_eq!(back, id);
    }

    #[test]
    fn map_keys_stay_plain_strings() {
        let counts: std::collections::BTreeMap<AgentId, u64> = [("a".into(), 2)].into();
        let json = serde_json::to_string(&counts).unwrap();
        assert_eq!(json, r#"{"a":2}"#);
        let back: std::collections::BTreeMap<AgentId, u64> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, counts);
    }

    #[test]
    fn maps_keyed_by_ids_answer_str_lookups() {
        let held: HashMap<ExecutionId, u32> = [("e1".into(), 1)].into();
        assert_eq!(held.get("e1"), Some(&1));
        assert_eq!(ExecutionId::from("e1").to_string(), "e1");
        assert_eq!(format!("{:?}", ExecutionId::from("e1")), r#""e1""#);
    }
}
