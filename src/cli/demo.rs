pub fn run(_: &crate::config::Config, _: DemoArgs) -> anyhow::Result<std::process::ExitCode> {
    todo!()
}
#[derive(clap::Args)]
pub struct DemoArgs {}
