//! `jobs edit`: the job as YAML in the user's editor ($VISUAL, then $EDITOR, then `vi`), saved
//! with `PUT /jobs/{id}` when it changed. Secrets stay the API's placeholder, which keeps them.

use crony_sdk::{Client, Method, path_segment};
use serde_json::Value;

use crate::CliError;
use crate::output::Output;
use crate::remote::{SERVER_FIELDS, find_job, text};

pub async fn edit(c: &Client, job: &str, out: Output) -> Result<(), CliError> {
    let mut current = find_job(c, job).await?;
    let id = text(&current, "id")?;
    if let Some(map) = current.as_object_mut() {
        for field in SERVER_FIELDS {
            map.remove(*field);
        }
    }
    let original = serde_norway::to_string(&current).map_err(|e| CliError::Io(e.to_string()))?;
    let file = tempfile_path(&id);
    std::fs::write(&file, &original)
        .map_err(|e| CliError::Io(format!("{}: {e}", file.display())))?;
    let edited = run_editor(&file);
    let text = std::fs::read_to_string(&file);
    let _ = std::fs::remove_file(&file);
    edited?;
    let text = text.map_err(|e| CliError::Io(e.to_string()))?;
    if text == original {
        eprintln!("no change");
        return Ok(());
    }
    let spec: Value = serde_norway::from_str(&text).map_err(|e| {
        let line = e
            .location()
            .map(|l| format!(":{}", l.line()))
            .unwrap_or_default();
        CliError::Usage(format!("{}{line}: {e} (nothing saved)", file.display()))
    })?;
    let path = format!("/jobs/{}", path_segment(&id));
    let saved = c.request_json(Method::PUT, &path, Some(&spec), &[]).await?;
    out.one(&saved, &[("name", "/name"), ("updated_at", "/updated_at")])
}

fn tempfile_path(id: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("crony-edit-{}-{id}.yaml", std::process::id()))
}

/// The editor command may carry arguments (`code --wait`): run through the shell, as git does.
fn run_editor(file: &std::path::Path) -> Result<(), CliError> {
    let editor = std::env::var("VISUAL")
        .or_else(|_| std::env::var("EDITOR"))
        .unwrap_or_else(|_| "vi".to_owned());
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("crony-edit")
        .arg(file)
        .status()
        .map_err(|e| CliError::Io(format!("editor {editor:?}: {e}")))?;
    if status.success() {
        Ok(())
    } else {
        Err(CliError::Io(format!(
            "editor {editor:?} exited with {status}; nothing saved"
        )))
    }
}
