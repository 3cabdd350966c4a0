//! `crony-scheduler` binary; see the library for everything it does.

fn main() -> std::process::ExitCode {
    crony_scheduler::main_entry()
}
