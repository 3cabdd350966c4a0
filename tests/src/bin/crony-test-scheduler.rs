//! The scheduler binary, built inside this package so integration tests can run (and kill) it.

/// mimalloc rather than glibc's malloc: a fifth of the agent's CPU per fire went to glibc's
/// allocator (perf, issue 16); mimalloc's thread-local free lists make that a fraction.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    crony_scheduler::main_entry()
}
