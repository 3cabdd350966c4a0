//! `crony`: see the crate's `lib.rs`.

fn main() -> std::process::ExitCode {
    crony_cli::main_entry()
}
