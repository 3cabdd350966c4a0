//! Turning etcd key-values under `{prefix}/agents/` into validated agent records.

use crony_common::registry::AgentRecord;

use crate::domain::agent::validate_record;

/// The agent id of a key under `dir` (`{prefix}/agents/`), if it is directly below it.
pub fn agent_id_of<'k>(dir: &str, key: &'k str) -> Option<&'k str> {
    key.strip_prefix(dir)
        .filter(|id| !id.is_empty() && !id.contains('/'))
}

/// Parses and validates the value stored at `key`.
pub fn parse_agent(dir: &str, key: &[u8], value: &[u8]) -> Result<AgentRecord, String> {
    let key = std::str::from_utf8(key).map_err(|_| "key is not UTF-8".to_owned())?;
    let id = agent_id_of(dir, key).ok_or_else(|| format!("{key:?} is not an agent key"))?;
    let record: AgentRecord =
        serde_json::from_slice(value).map_err(|e| format!("{key}: malformed agent record: {e}"))?;
    validate_record(id, &record).map_err(|e| format!("{key}: {e}"))?;
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_must_be_directly_below_the_directory() {
        assert_eq!(
            agent_id_of("/crony/agents/", "/crony/agents/a1"),
            Some("a1")
        );
        assert_eq!(agent_id_of("/crony/agents/", "/crony/agents/"), None);
        assert_eq!(agent_id_of("/crony/agents/", "/crony/agents/a/b"), None);
        assert_eq!(agent_id_of("/crony/agents/", "/other/agents/a"), None);
    }

    #[test]
    fn records_are_validated_against_their_key() {
        let value = br#"{"id":"a1","grpc_addr":"127.0.0.1:1","hostname":"h","weight":2,
            "version":"0.1.0","allow_shell":true,"started_at":"2026-01-01T00:00:00Z"}"#;
        assert_eq!(
            parse_agent("/c/agents/", b"/c/agents/a1", value)
                .unwrap()
                .weight,
            2
        );
        assert!(
            parse_agent("/c/agents/", b"/c/agents/a2", value)
                .unwrap_err()
                .contains("differs")
        );
        assert!(
            parse_agent("/c/agents/", b"/c/agents/a1", b"{")
                .unwrap_err()
                .contains("malformed")
        );
    }
}
