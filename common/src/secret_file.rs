//! Where a secret setting may come from: its own variable or file key, or a file that its
//! `_FILE` variant names (`CRONY_X_FILE`, `x_file`, `--x-file`), the way container and systemd
//! credentials are handed over. Never from a flag of its own: the process list shows every
//! process's arguments to every user of the machine.

use std::path::PathBuf;

use clap::{Arg, ArgAction};

use crate::settings::{ConfigError, Kind, Origin, Setting, Sources, toml_to_text};

/// The clap arguments of `setting`. A secret's own flag exists only to be refused with a
/// clear message (clap's "unexpected argument" would not say why), so it is hidden.
pub(crate) fn args(setting: &Setting) -> Vec<Arg> {
    let own = Arg::new(setting.key).long(setting.flag());
    match setting.kind {
        Kind::Value => vec![
            own.value_name("VALUE")
                .help(format!("{} [env: {}]", setting.help, setting.env))
                .action(ArgAction::Set),
        ],
        Kind::Switch => vec![
            own.help(format!("{} [env: {}=true]", setting.help, setting.env))
                .action(ArgAction::SetTrue),
        ],
        Kind::Secret => vec![
            own.hide(true).action(ArgAction::Set),
            Arg::new(file_key(setting))
                .long(format!("{}-file", setting.flag()))
                .value_name("PATH")
                .help(format!(
                    "{} [env: {}_FILE; or the value itself in {}]",
                    setting.help, setting.env, setting.env
                ))
                .action(ArgAction::Set),
        ],
    }
}

/// The environment variables `setting` reads.
pub(crate) fn env_names(setting: &Setting) -> Vec<String> {
    let mut names = vec![setting.env.to_owned()];
    if setting.is_secret() {
        names.push(format!("{}_FILE", setting.env));
    }
    names
}

/// The config-file keys `setting` accepts.
pub(crate) fn file_keys(setting: &Setting) -> Vec<String> {
    let mut keys = vec![setting.key.to_owned()];
    if setting.is_secret() {
        keys.push(file_key(setting));
    }
    keys
}

fn file_key(setting: &Setting) -> String {
    format!("{}_file", setting.key)
}

/// The value of a secret setting from the highest layer that has it: flag (only `--x-file`),
/// environment, config file. Within one layer, the value and the `_FILE` variant together
/// are an error: which one was meant is anyone's guess.
pub(crate) fn resolve(
    src: &Sources,
    setting: &Setting,
) -> Result<Option<(String, Origin)>, ConfigError> {
    if src.flags.get_one::<String>(setting.key).is_some() {
        return Err(ConfigError::SecretFlag {
            flag: setting.flag(),
            env: setting.env,
        });
    }
    let key_file = file_key(setting);
    if let Some(path) = src.flags.get_one::<String>(&key_file) {
        return read(format!("--{}-file", setting.flag()), path).map(Some);
    }
    let env_file = format!("{}_FILE", setting.env);
    match (src.env.get(setting.env), src.env.get(&env_file)) {
        (Some(_), Some(_)) => {
            return Err(ConfigError::SecretTwice {
                value: setting.env.to_owned(),
                file: env_file,
            });
        }
        (Some(value), None) => return Ok(Some((value.clone(), Origin::Env(setting.env)))),
        (None, Some(path)) => return read(env_file, path).map(Some),
        (None, None) => {}
    }
    let in_file = |key: &str| format!("`{key}` in {}", src.file_path.display());
    match (src.file.get(setting.key), src.file.get(&key_file)) {
        (Some(_), Some(_)) => Err(ConfigError::SecretTwice {
            value: in_file(setting.key),
            file: in_file(&key_file),
        }),
        (Some(value), None) => Ok(Some((
            toml_to_text(value),
            Origin::File {
                key: setting.key,
                path: src.file_path.clone(),
            },
        ))),
        (None, Some(path)) => read(in_file(&key_file), &toml_to_text(path)).map(Some),
        (None, None) => Ok(None),
    }
}

/// The secret in the file at `path`, with the one line break editors and `echo` add removed
/// (anything else is the secret's own).
fn read(setting: String, path: &str) -> Result<(String, Origin), ConfigError> {
    let path = PathBuf::from(path.trim());
    let text = std::fs::read_to_string(&path).map_err(|e| ConfigError::SecretFile {
        setting: setting.clone(),
        path: path.clone(),
        message: e.to_string(),
    })?;
    let value = text
        .strip_suffix("\r\n")
        .or_else(|| text.strip_suffix('\n'))
        .unwrap_or(&text)
        .to_owned();
    Ok((value, Origin::SecretFile { setting, path }))
}

#[cfg(test)]
mod tests {
    use super::*;

    static SETTINGS: &[Setting] = &[
        Setting::secret("cluster_token", "CRONY_CLUSTER_TOKEN", ""),
        Setting::switch("insecure", "CRONY_INSECURE", ""),
    ];
    const TOKEN: &Setting = &SETTINGS[0];

    fn sources(args: &[&str], env: &[(&str, &str)]) -> Result<Sources, ConfigError> {
        crate::settings::test_sources(SETTINGS, args, env)
    }

    fn token(src: &Sources) -> Option<String> {
        src.get(TOKEN, |r| Ok::<_, String>(r.to_owned())).unwrap()
    }

    #[test]
    fn a_secret_comes_from_its_variable_or_a_file_with_the_line_break_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "from-the-file\n").unwrap();
        let path = file.to_str().unwrap();
        let src = sources(&[], &[("CRONY_CLUSTER_TOKEN", "from-env")]).unwrap();
        assert_eq!(token(&src).as_deref(), Some("from-env"));
        let src = sources(&[], &[("CRONY_CLUSTER_TOKEN_FILE", path)]).unwrap();
        assert_eq!(token(&src).as_deref(), Some("from-the-file"));
        let src = sources(&["--cluster-token-file", path], &[]).unwrap();
        assert_eq!(token(&src).as_deref(), Some("from-the-file"));
        let config = dir.path().join("c.toml");
        std::fs::write(&config, format!("cluster_token_file = {path:?}\n")).unwrap();
        let src = sources(&["--config", config.to_str().unwrap()], &[]).unwrap();
        assert_eq!(token(&src).as_deref(), Some("from-the-file"));
        // A bad value read from a file names the variable and the file.
        let err = src
            .get(TOKEN, |_| Err::<(), _>("too short".to_owned()))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`cluster_token_file`") && err.contains(path),
            "{err}"
        );
    }

    #[test]
    fn a_secret_flag_both_variants_and_an_unreadable_file_are_refused() {
        let err = sources(&["--cluster-token", "s3cret"], &[])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("--cluster-token")
                && err.contains("process list")
                && err.contains("CRONY_CLUSTER_TOKEN_FILE")
                && !err.contains("s3cret"),
            "{err}"
        );
        let both = [
            ("CRONY_CLUSTER_TOKEN", "a"),
            ("CRONY_CLUSTER_TOKEN_FILE", "/nowhere"),
        ];
        let err = sources(&[], &both).unwrap_err().to_string();
        assert!(
            err.contains("CRONY_CLUSTER_TOKEN ") && err.contains("CRONY_CLUSTER_TOKEN_FILE"),
            "{err}"
        );
        let err = sources(&[], &[("CRONY_CLUSTER_TOKEN_FILE", "/nowhere/token")])
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("cannot read CRONY_CLUSTER_TOKEN_FILE /nowhere/token:"),
            "{err}"
        );
    }

    #[test]
    fn a_switch_is_a_bare_flag_or_a_boolean_variable() {
        let on = |s: &Sources| s.raw(&SETTINGS[1]).map(|(v, _)| v);
        assert_eq!(
            on(&sources(&["--insecure"], &[]).unwrap()).as_deref(),
            Some("true")
        );
        assert_eq!(on(&sources(&[], &[]).unwrap()), None);
        let src = sources(&[], &[("CRONY_INSECURE", "false")]).unwrap();
        assert_eq!(on(&src).as_deref(), Some("false"));
    }
}
