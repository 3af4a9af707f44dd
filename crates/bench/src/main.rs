//! `hooktrail-bench`: intake and page throughput and latency against the real server, beside
//! the baselines that explain them. See the library's documentation for what each target is.

use std::process::ExitCode;

use clap::Parser;
use hooktrail::cli::{LogFormat, init_logging};
use hooktrail_bench::BenchArgs;

#[derive(Parser)]
#[command(
    name = "hooktrail-bench",
    version,
    about = "Measure the gateway's intake and pages against plain handlers.",
    after_help = "Progress and the servers' own log lines go to stderr; \
        HOOKTRAIL_LOG=warn hides the latter."
)]
struct Cli {
    #[command(flatten)]
    args: BenchArgs,
}

/// mimalloc rather than the system's allocator: the writer thread, the bottleneck of intake,
/// allocates and frees per delivery, and glibc's malloc spent about 15% of the gateway's CPU
/// under load (measured: docs/architecture.md, "Allocator").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(LogFormat::Text);
    // As `hooktrail serve` does: the servers measured run in this program, in this process
    // (pages, PostgreSQL) or in a child that is this program again (see `apart`).
    hooktrail::app::memory::set_up();
    match hooktrail_bench::run(cli.args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
