//! `crony-agent` binary; see the library for everything it does.

/// mimalloc rather than glibc's malloc: a fifth of the agent's CPU per fire went to glibc's
/// allocator (perf, issue 16); mimalloc's thread-local free lists make that a fraction.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    crony_agent::main_entry()
}
