#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

/// mimalloc rather than the system's allocator: the writer thread, the bottleneck of intake,
/// allocates and frees per delivery, and glibc's malloc spent about 15% of the gateway's CPU
/// under load (measured: docs/architecture.md, "Allocator").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    hooktrail::cli::main()
}
