//! `crony`, the operator's command line: jobs, executions, agents and alerts over the API, and
//! job files kept in git (`apply`, `diff`, `export`, `import-crontab`).

pub mod apply;
pub mod args;
pub mod commands;
pub mod config;
pub mod crontab;
pub mod edit;
pub mod export;
pub mod jobfile;
pub mod output;
pub mod remote;

use std::io::Read;
use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use args::{Cli, Command, ImportArgs, LoginArgs};
use config::Profile;

/// What went wrong, and so the exit code: 2 for usage, 3 for a diff that found changes, 4 for
/// a waited-for execution that did not succeed, 1 for everything else.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Io(String),
    #[error("{0}")]
    NotFound(String),
    #[error(transparent)]
    Api(#[from] crony_sdk::Error),
    #[error(transparent)]
    File(#[from] jobfile::JobFileError),
    /// Files and cluster differ (`diff`, `apply --dry-run` never fail for it).
    #[error("{0}")]
    Differs(String),
    /// `trigger --wait`: the execution settled, and not as succeeded.
    #[error("{0}")]
    Unsuccessful(String),
}

impl CliError {
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => 2,
            CliError::Differs(_) => 3,
            CliError::Unsuccessful(_) => 4,
            _ => 1,
        }
    }
}

/// The binary's entry point: parses the command line, runs it, prints errors as one line.
pub fn main_entry() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("crony: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(CliError::Differs(message)) => {
            eprintln!("{message}");
            ExitCode::from(3)
        }
        Err(e) => {
            eprintln!("crony: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// One command, start to end.
pub async fn run(cli: Cli) -> Result<(), CliError> {
    let g = cli.global;
    let out = g.output;
    let cluster = || config::resolve(g.url.clone(), g.token.clone(), g.profile.as_deref());
    match cli.command {
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "crony", &mut std::io::stdout());
            Ok(())
        }
        Command::Man => man(),
        Command::ImportCrontab(args) => import_crontab(&args),
        Command::Login(args) => login(&g.url, g.token.clone(), g.profile.as_deref(), &args),
        Command::Jobs(c) => commands::jobs(&cluster()?, out, c).await,
        Command::Exec(c) => commands::exec(&cluster()?, out, c).await,
        Command::Agents(c) => commands::agents(&cluster()?, out, c).await,
        Command::Alerts(c) => commands::alerts(&cluster()?, out, c).await,
        Command::Preview(a) => commands::preview(&cluster()?, out, &a).await,
        Command::Apply(a) => apply::apply(&cluster()?, &a, out).await,
        Command::Diff(f) => apply::diff(&cluster()?, &f, out).await,
        Command::Export(a) => export::export(&cluster()?, &a).await,
    }
}

fn man() -> Result<(), CliError> {
    let page = clap_mangen::Man::new(Cli::command());
    page.render(&mut std::io::stdout())
        .map_err(|e| CliError::Io(e.to_string()))
}

/// Writes the profile (`--profile`, else `default`) and makes it current.
fn login(
    url: &Option<String>,
    token: Option<String>,
    profile: Option<&str>,
    args: &LoginArgs,
) -> Result<(), CliError> {
    let url = url
        .clone()
        .ok_or_else(|| CliError::Usage("crony login needs --url (or CRONY_URL)".into()))?;
    crony_sdk::Client::new(&url).map_err(|e| CliError::Usage(format!("--url: {e}")))?;
    let token = if args.token_stdin {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .map_err(|e| CliError::Io(format!("standard input: {e}")))?;
        Some(line.trim().to_owned()).filter(|t| !t.is_empty())
    } else {
        token
    };
    let name = profile.unwrap_or(config::DEFAULT_PROFILE).to_owned();
    let path = config::path()?;
    let mut file = config::read(&path)?;
    file.profiles.insert(name.clone(), Profile { url, token });
    file.current = Some(name.clone());
    config::write(&path, &file)?;
    eprintln!("profile {name:?} saved in {} (mode 0600)", path.display());
    Ok(())
}

/// The crontab as a job file on standard output; what it skipped on standard error, with the
/// line numbers.
fn import_crontab(args: &ImportArgs) -> Result<(), CliError> {
    let stdin = args.file.as_os_str() == "-";
    let text = if stdin {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| CliError::Io(format!("standard input: {e}")))?;
        text
    } else {
        std::fs::read_to_string(&args.file)
            .map_err(|e| CliError::Io(format!("{}: {e}", args.file.display())))?
    };
    let source = if stdin {
        "crontab".to_owned()
    } else {
        args.file.display().to_string()
    };
    let format = if args.system {
        crontab::Format::System
    } else {
        crontab::Format::User
    };
    let imported = crontab::import(&text, &source, format);
    let shown = if stdin { "-" } else { source.as_str() };
    for skipped in &imported.skipped {
        eprintln!(
            "{shown}:{}: skipped: {} ({})",
            skipped.line, skipped.reason, skipped.text
        );
    }
    let header = format!("imported from {source} by crony import-crontab");
    print!("{}", jobfile::render(&imported.jobs, false, &header)?);
    eprintln!(
        "{} jobs, {} lines skipped",
        imported.jobs.len(),
        imported.skipped.len()
    );
    Ok(())
}
