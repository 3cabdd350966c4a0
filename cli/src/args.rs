//! The command line's grammar (clap derive). The top-level help lists the commands in groups,
//! with examples; each subcommand's help carries its own.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::output::Output;

const COMMANDS: &str = "\
Jobs:
  jobs             list, get, create, edit, delete, pause, resume, trigger [--wait]
  preview          the next fires of a schedule in a time zone
Runs:
  exec             list, get, logs, kill
  alerts           list, test
Cluster:
  agents           list, drain, undrain, weight
Job files (keep your jobs in git):
  apply            create or change the jobs of files or directories [--dry-run] [--prune]
  diff             what apply would change (exit 3 when something would)
  export           the cluster's jobs as a job file, secrets as references
  import-crontab   a crontab (crontab -l, /etc/cron.d) as a job file
Setup:
  login            save a cluster's URL and token as a profile
  completions      shell completions (bash, zsh, fish, elvish, powershell)
  man              the man page (roff)";

const EXAMPLES: &str = "\
Examples:
  crony login --url https://crony.example.com --token-stdin < token.txt
  crony jobs list --output json
  crony jobs trigger nightly-report --wait
  crony apply -f jobs/ --dry-run
  crony export > jobs/all.yaml
  crontab -l | crony import-crontab - > jobs/from-crontab.yaml

Exit codes: 0 ok, 1 failed (the API or a file said why), 2 bad usage,
3 diff found changes, 4 a waited-for execution did not succeed.";

#[derive(Debug, Parser)]
#[command(
    name = "crony",
    version,
    about = "The operator's command line for Crony: jobs, runs, agents, and job files kept in git",
    help_template = "{about}\n\n{usage-heading} {usage}\n\n{before-help}\n\n{all-args}{after-help}",
    before_help = COMMANDS,
    after_help = EXAMPLES,
    subcommand_help_heading = "All commands",
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct Global {
    /// The scheduler's address (`http://127.0.0.1:8080`).
    #[arg(long, global = true, env = "CRONY_URL", hide_env_values = true)]
    pub url: Option<String>,
    /// An API token (`crony_…`); prefer CRONY_TOKEN or a profile: flags show in `ps`.
    #[arg(long, global = true, env = "CRONY_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// A profile of the config file (see `crony login`).
    #[arg(long, global = true, env = "CRONY_PROFILE")]
    pub profile: Option<String>,
    /// How answers are printed.
    #[arg(long, short = 'o', global = true, value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Jobs: list, get, create, edit, delete, pause, resume, trigger.
    #[command(subcommand)]
    Jobs(JobsCommand),
    /// Executions: list, get, logs, kill.
    #[command(subcommand)]
    Exec(ExecCommand),
    /// Agents: list, drain, undrain, weight.
    #[command(subcommand)]
    Agents(AgentsCommand),
    /// Alerts: list, test.
    #[command(subcommand)]
    Alerts(AlertsCommand),
    /// The next fires of a schedule.
    #[command(after_help = "Example:\n  crony preview '0 30 2 * * *' --tz Asia/Shanghai --count 3")]
    Preview(PreviewArgs),
    /// Creates or changes the jobs of job files; a second apply changes nothing.
    #[command(
        after_help = "Examples:\n  crony apply -f jobs/ --dry-run\n  crony apply -f jobs/ --prune\n\n\
        Jobs are keyed by name. --prune deletes jobs an earlier apply of the same --set created\n\
        and that are no longer in the files; it never touches other jobs."
    )]
    Apply(ApplyArgs),
    /// What `apply` would change; exit 3 when something would.
    #[command(
        after_help = "Example:\n  crony diff -f jobs/ || echo 'the cluster differs from git'"
    )]
    Diff(FilesArgs),
    /// Writes the cluster's jobs as a job file (secrets as `${env:…}` references).
    #[command(
        after_help = "Examples:\n  crony export > jobs/all.yaml\n  crony export --name-contains billing --file jobs/billing.toml"
    )]
    Export(ExportArgs),
    /// Turns a crontab into a job file; skipped lines are reported with their number.
    #[command(
        name = "import-crontab",
        after_help = "Examples:\n  crontab -l | crony import-crontab - > jobs/crontab.yaml\n  crony import-crontab --system /etc/cron.d/backup"
    )]
    ImportCrontab(ImportArgs),
    /// Saves a cluster's URL and token as a profile (the file is readable by you only).
    #[command(
        after_help = "Example:\n  crony login --profile prod --url https://crony.example.com --token-stdin < token.txt\n\n\
        Writes the profile (--profile, default `default`) and makes it current."
    )]
    Login(LoginArgs),
    /// Prints shell completions.
    #[command(after_help = "Example:\n  crony completions bash > /etc/bash_completion.d/crony")]
    Completions { shell: clap_complete::Shell },
    /// Prints the man page (roff).
    #[command(after_help = "Example:\n  crony man > /usr/local/share/man/man1/crony.1")]
    Man,
}

#[derive(Debug, Subcommand)]
pub enum JobsCommand {
    /// Lists jobs.
    #[command(after_help = "Example:\n  crony jobs list --name-contains report --enabled true")]
    List {
        #[arg(long)]
        name_contains: Option<String>,
        #[arg(long)]
        enabled: Option<bool>,
    },
    /// Shows one job (by name or id).
    Get { job: String },
    /// Creates the jobs of a job file (fails if one exists; `apply` updates).
    Create(FilesArgs),
    /// Opens a job in $VISUAL or $EDITOR as YAML and saves what you write.
    Edit { job: String },
    /// Deletes a job.
    Delete { job: String },
    /// Stops a job firing.
    Pause { job: String },
    /// Lets a paused job fire again.
    Resume { job: String },
    /// Runs a job once now.
    #[command(
        after_help = "Example:\n  crony jobs trigger nightly-report --wait --timeout 10m\n\n\
        With --wait the exit code is the execution's: 0 succeeded, 4 anything else."
    )]
    Trigger {
        job: String,
        /// Waits until the execution settles.
        #[arg(long)]
        wait: bool,
        /// How long --wait waits (`90s`, `10m`).
        #[arg(long, default_value = "10m", value_parser = humantime_duration)]
        timeout: std::time::Duration,
    },
}

#[derive(Debug, Subcommand)]
pub enum ExecCommand {
    /// Lists executions, newest first.
    #[command(
        after_help = "Example:\n  crony exec list --job nightly-report --status failed,timed_out"
    )]
    List {
        /// A job name or id.
        #[arg(long)]
        job: Option<String>,
        /// One status or several, comma-separated.
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// Shows one execution with its attempts.
    Get { id: String },
    /// Prints each attempt's output.
    Logs { id: String },
    /// Stops a running execution.
    Kill { id: String },
}

#[derive(Debug, Subcommand)]
pub enum AgentsCommand {
    /// Lists agents.
    List,
    /// Moves every job away from an agent and gives it no new ones.
    Drain { id: String },
    /// Lets a drained agent take jobs again.
    Undrain { id: String },
    /// Sets an agent's placement weight (1 to 1000), or `published` for its own.
    Weight { id: String, weight: String },
}

#[derive(Debug, Subcommand)]
pub enum AlertsCommand {
    /// Lists alerts, newest first.
    List {
        #[arg(long)]
        job: Option<String>,
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// Sends a test alert through a channel (email, feishu, webhook).
    #[command(after_help = "Example:\n  crony alerts test email --to ops@example.com")]
    Test {
        channel: String,
        #[arg(long)]
        to: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct PreviewArgs {
    /// Cron (6 or 5 fields), `@every 90s`, `@daily`…
    pub schedule: String,
    #[arg(long, default_value = "UTC")]
    pub tz: String,
    #[arg(long, default_value_t = 5)]
    pub count: u32,
    /// Fires after this instant (RFC 3339); default now.
    #[arg(long)]
    pub after: Option<String>,
}

#[derive(Debug, Args)]
pub struct FilesArgs {
    /// Job files (.yaml, .yml, .toml) or directories of them.
    #[arg(short = 'f', long = "file", required = true)]
    pub files: Vec<PathBuf>,
    /// The set these files form: `--prune` only deletes jobs of this set.
    #[arg(long, default_value = "default")]
    pub set: String,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub files: FilesArgs,
    /// Shows what would change and changes nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Also deletes jobs an earlier apply of this set created that the files no longer have.
    #[arg(long)]
    pub prune: bool,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Only jobs whose name contains this.
    #[arg(long)]
    pub name_contains: Option<String>,
    /// Only jobs an apply of this set manages.
    #[arg(long)]
    pub set: Option<String>,
    /// Writes here (its extension picks YAML or TOML) instead of standard output.
    #[arg(long)]
    pub file: Option<PathBuf>,
    /// TOML on standard output.
    #[arg(long)]
    pub toml: bool,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The crontab, or `-` for standard input.
    pub file: PathBuf,
    /// /etc/crontab or /etc/cron.d format: a user column before the command.
    #[arg(long)]
    pub system: bool,
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Reads the token from standard input (one line) instead of --token / CRONY_TOKEN.
    #[arg(long)]
    pub token_stdin: bool,
}

/// `90s`, `10m`, `1h 30m` (clap's value parser).
fn humantime_duration(text: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(text).map_err(|e| format!("{text:?}: {e} (like 90s or 10m)"))
}
