//! The agent's stable id: given by configuration, or generated once and kept in the data dir,
//! so a restarted agent is the same agent to the scheduler (same jobs, same history).

use std::io;
use std::path::Path;

const ID_FILE: &str = "agent-id";

/// Agent ids go into etcd keys and URLs: keep them to a safe alphabet.
pub fn validate_id(raw: &str) -> Result<String, String> {
    let ok = !raw.is_empty()
        && raw.len() <= 64
        && raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    if ok {
        Ok(raw.to_owned())
    } else {
        Err(format!(
            "{raw:?} must be 1-64 characters of letters, digits, . _ -"
        ))
    }
}

/// Returns the configured id, or the one persisted in `data_dir`, or a new one (persisted).
pub fn load_or_create(data_dir: &Path, configured: Option<&str>) -> io::Result<String> {
    std::fs::create_dir_all(data_dir)?;
    if let Some(id) = configured {
        return Ok(id.to_owned());
    }
    let path = data_dir.join(ID_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => validate_id(text.trim()).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {e}", path.display()),
            )
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let id = format!("agent-{}", uuid::Uuid::now_v7().simple());
            // Write then rename so a crash never leaves a half-written id behind.
            let tmp = data_dir.join(format!("{ID_FILE}.tmp"));
            std::fs::write(&tmp, &id)?;
            std::fs::rename(&tmp, &path)?;
            Ok(id)
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_is_generated_once_and_reused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        let first = load_or_create(&dir, None).unwrap();
        assert!(first.starts_with("agent-"));
        assert_eq!(load_or_create(&dir, None).unwrap(), first);
        assert_eq!(load_or_create(&dir, Some("fixed")).unwrap(), "fixed");
    }

    #[test]
    fn ids_are_restricted_to_a_safe_alphabet() {
        assert!(validate_id("a/b").is_err());
        assert!(validate_id("").is_err());
        assert!(validate_id("agent-1.x_y").is_ok());
    }
}
