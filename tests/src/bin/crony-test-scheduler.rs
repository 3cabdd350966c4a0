//! The scheduler binary, built inside this package so integration tests can run (and kill) it.

fn main() -> std::process::ExitCode {
    crony_scheduler::main_entry()
}
