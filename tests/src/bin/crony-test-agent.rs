//! The agent binary, built inside this package so integration tests can run (and SIGKILL) it.

fn main() -> std::process::ExitCode {
    crony_agent::main_entry()
}
