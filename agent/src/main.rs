//! `crony-agent` binary; see the library for everything it does.

fn main() -> std::process::ExitCode {
    crony_agent::main_entry()
}
