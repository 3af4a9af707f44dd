//! The command line: `hooktrail serve | send | demo | hash-password | verify | reindex | prune |
//! erase | export | embed-link | backup`. The load generator is its own program, `hooktrail-bench`.

mod connect;
mod demo;
mod embed_link;
mod evidence;
mod export;
mod maintenance;
mod password;
mod remote;
mod send;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::config::Config;
use crate::sources::Source;

#[derive(Parser)]
#[command(
    name = "hooktrail",
    version,
    about = "Signed webhooks in, activity timelines out."
)]
struct Cli {
    /// The config file.
    #[arg(
        long,
        global = true,
        env = "HOOKTRAIL_CONFIG",
        default_value = "config/hooktrail.toml"
    )]
    config: PathBuf,
    /// Log format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway.
    Serve,
    /// Sign a payload file the way the source's provider would, post it, print the answer.
    Send(send::SendArgs),
    /// Post the signed lifecycle of a few sample jobs and sales documents to the gateway.
    Demo(demo::DemoArgs),
    /// Read a password on stdin and print its argon2id hash for `[[auth.users]]`.
    HashPassword,
    /// Check the integrity chain of the delivery log; exits non-zero naming the first bad seq.
    /// With `--digests DIR --public-key KEY`: check the log (or a `prove` output) against
    /// signed tree heads published outside it.
    Verify {
        #[command(flatten)]
        digests: evidence::DigestArgs,
        #[command(flatten)]
        remote: remote::RemoteArgs,
    },
    /// Export a timeline with the proof that each entry's delivery is in the log under the
    /// latest signed tree head (JSON; check it with `verify --digests` or docs/verifying.md).
    Prove(evidence::ProveArgs),
    /// Rebuild every projection (entries, indexes, links) from the delivery log.
    Reindex,
    /// Make an Ed25519 key for signing tree heads: prints the `[trust] signing_key` to keep
    /// secret and the public key to publish for auditors.
    Keygen,
    /// Normalize chosen deliveries again with today's normalizers (after an upgrade or a
    /// config fix), in place, logging the run; what only a full reindex can redo is listed.
    Renormalize(maintenance::RenormalizeArgs),
    /// Drop raw bodies older than the retention period (their hashes and entries stay).
    Prune {
        /// Instead of `[retention] raw_bodies_days`.
        #[arg(long)]
        older_than_days: Option<u32>,
    },
    /// Redact personal content (email bodies and addresses) for a privacy request.
    Erase {
        /// Everything personal on one timeline, e.g. job:1042.
        #[arg(long, conflicts_with = "email", required_unless_present = "email")]
        subject: Option<crate::activity::Subject>,
        /// One person's address, everywhere.
        #[arg(long)]
        email: Option<String>,
    },
    /// Export a timeline or everything as JSON lines or CSV.
    Export(export::ExportArgs),
    /// Print a signed link to a timeline for a frame in the business app (`[embed]`).
    EmbedLink(embed_link::EmbedLinkArgs),
    /// Copy the store consistently (the gateway may keep running) and verify the copy.
    Backup {
        /// The new file; never overwritten. A running gateway writes it inside its backup folder.
        path: std::path::PathBuf,
        #[command(flatten)]
        remote: remote::RemoteArgs,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    // Before any thread starts or any large allocation is made.
    crate::app::memory::set_up();
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    // Need no config: one reads stdin, the other only prints.
    match cli.command {
        Command::HashPassword => return password::run(),
        Command::Keygen => return keygen(),
        _ => {}
    }
    let config = Config::load(&cli.config)?;
    match cli.command {
        Command::Serve => {
            actix_web::rt::System::new().block_on(crate::app::serve(config))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Send(args) => send::run(&config, args),
        Command::Demo(args) => demo::run(&config, args),
        Command::Verify { digests, remote } => match &digests.digests {
            Some(dir) => evidence::verify_digests(
                &config,
                &remote,
                dir,
                &digests.public_key,
                digests.bundle.as_deref(),
            ),
            None => maintenance::verify(&config, &remote),
        },
        Command::Prove(args) => evidence::prove(&config, args),
        Command::Reindex => maintenance::reindex(&config),
        Command::Renormalize(args) => maintenance::renormalize(&config, &args),
        Command::Prune { older_than_days } => maintenance::prune(&config, older_than_days),
        Command::Erase { subject, email } => maintenance::erase(&config, subject, email),
        Command::Export(args) => export::run(&config, args),
        Command::EmbedLink(args) => embed_link::run(&config, args),
        Command::Backup { path, remote } => maintenance::backup(&config, &remote, &path),
        Command::HashPassword | Command::Keygen => unreachable!("handled above"),
    }
}

/// The configured source called `name`; the error lists the configured ones, so a typo is
/// answered with what would have worked.
fn source_named<'c>(config: &'c Config, name: &str) -> anyhow::Result<&'c Source> {
    config.source(name).ok_or_else(|| {
        let known: Vec<String> = config
            .sources
            .iter()
            .map(|source| format!("{} ({})", source.name, source.kind_name()))
            .collect();
        if known.is_empty() {
            anyhow::anyhow!("no source named {name:?}: the config has no [[sources]]")
        } else {
            anyhow::anyhow!(
                "no source named {name:?} in the config; the configured sources are: {}",
                known.join(", ")
            )
        }
    })
}

/// Logs to stderr, filtered by `HOOKTRAIL_LOG` (default `info`), as text or JSON lines.
pub fn init_logging(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    // The certificate verifier logs a refused certificate as an error of its own; the verb
    // that met it reports the same failure once, with what it was doing.
    let filter = EnvFilter::try_from_env("HOOKTRAIL_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,rustls_platform_verifier=off"));
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Prints a new tree-head signing key and its public half.
fn keygen() -> anyhow::Result<ExitCode> {
    let key = crate::trust::keys::TreeKey::generate().map_err(anyhow::Error::msg)?;
    let public = key.public();
    println!("# Keep secret: in the environment as HOOKTRAIL_TRUST__SIGNING_KEY, or in [trust].");
    println!("signing_key = \"{}\"", key.encoded());
    println!("# Publish for auditors (key id {}):", public.key_id());
    println!("public_key = \"{}\"", public.encoded());
    Ok(ExitCode::SUCCESS)
}
