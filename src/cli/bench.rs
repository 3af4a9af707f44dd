//! `hooktrail bench` (filled in below).
#[derive(clap::Args)]
pub struct BenchArgs {}
pub fn run(_args: BenchArgs) -> anyhow::Result<()> {
    Ok(())
}
