//! `hooktrail prove job:1042` (a timeline with the inclusion proof of each entry under the
//! latest signed head) and `hooktrail verify --digests DIR --public-key KEY [BUNDLE]` (a store,
//! a running gateway or a bundle checked against heads published outside it).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;

use super::export::refused_as_not_found;
use super::maintenance::open_for_writing;
use super::remote::{Remote, RemoteArgs};
use crate::activity::Subject;
use crate::config::{Backend, Config};
use crate::store::{Store, StoreError};
use crate::trust::audit;
use crate::trust::heads::SignedHead;
use crate::trust::keys::PublicKey;
use crate::trust::merkle;
use crate::trust::proofs::{Bundle, ProvenEntry, StoredTree};

#[derive(clap::Args)]
pub struct ProveArgs {
    /// The timeline, e.g. job:1042.
    subject: Subject,
    /// Prove under the signed head over this many deliveries (default: the latest head).
    #[arg(long)]
    tree_size: Option<u64>,
    /// Write here instead of standard output.
    #[arg(long, short)]
    output: Option<PathBuf>,
    #[command(flatten)]
    remote: RemoteArgs,
}

/// How a verb that needs the tree reaches the store: directly when no gateway owns it, or
/// through the running gateway's API. Directly means opened as a store rather than a
/// snapshot: proofs read through the seam (kept subtrees, heads), and a file from before the
/// tree gets it first.
enum Reach {
    Store(std::sync::Arc<dyn Store>),
    Live(Remote),
}

fn reach(config: &Config, remote: &RemoteArgs) -> anyhow::Result<Reach> {
    if config.storage.backend == Backend::Postgres {
        return Ok(Reach::Store(open_for_writing(config)?));
    }
    let path = &config.storage.path;
    if !path.exists() {
        anyhow::bail!("no store at {}", path.display());
    }
    match super::maintenance::open_store(config) {
        Ok(store) => Ok(Reach::Store(store)),
        Err(StoreError::InUse) => Ok(Reach::Live(Remote::new(config, remote)?)),
        Err(err) => Err(err.into()),
    }
}

pub fn prove(config: &Config, args: ProveArgs) -> anyhow::Result<ExitCode> {
    let bundle = match reach(config, &args.remote)? {
        Reach::Store(store) => prove_from_store(store.as_ref(), &args)?,
        Reach::Live(remote) => prove_from_gateway(&remote, &args)?,
    };
    let Some((bundle, later)) = bundle else {
        eprintln!("nothing has been received about {}", args.subject.key());
        return Ok(ExitCode::from(3));
    };
    if bundle.entries.is_empty() {
        anyhow::bail!(
            "none of the {later} entries of {} is under signed head {} yet; the next head will \
             cover them",
            bundle.subject,
            bundle.digest.number
        );
    }
    // Checked before it is handed out: a bundle that would not prove itself is a fault here.
    if let Some(failure) = bundle.proof_failures().first() {
        anyhow::bail!("the proofs do not hold: {failure}");
    }
    let mut out: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(BufWriter::new(
            File::create_new(path).with_context(|| format!("cannot create {}", path.display()))?,
        )),
        None => Box::new(BufWriter::new(std::io::stdout().lock())),
    };
    serde_json::to_writer_pretty(&mut out, &bundle)?;
    out.write_all(b"\n")?;
    out.flush()?;
    eprintln!(
        "{} entries of {} proven under signed head {} ({} deliveries, key {})",
        bundle.entries.len(),
        bundle.subject,
        bundle.digest.number,
        bundle.digest.tree_size,
        bundle.digest.key_id
    );
    if later > 0 {
        eprintln!(
            "{later} later entries are not under that head yet; the next head will cover them"
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The head to prove under: the one over `tree_size` deliveries, or the latest.
fn chosen_head(
    latest: Option<SignedHead>,
    of_size: impl FnOnce(u64) -> anyhow::Result<Option<SignedHead>>,
    tree_size: Option<u64>,
) -> anyhow::Result<SignedHead> {
    let head = match tree_size {
        Some(size) => of_size(size)?
            .with_context(|| format!("no signed tree head covers exactly {size} deliveries"))?,
        None => latest.context(
            "no tree head has been signed yet: a gateway with a [trust] signing_key signs one \
             every digest_interval_secs and when it stops",
        )?,
    };
    Ok(head)
}

/// The bundle, and how many entries came after its head; `None` when the subject has none.
fn prove_from_store(
    store: &dyn Store,
    args: &ProveArgs,
) -> anyhow::Result<Option<(Bundle, usize)>> {
    let mut entries = Vec::new();
    store.export(Some(&args.subject), &mut |entry| {
        entries.push(entry);
        Ok(())
    })?;
    if entries.is_empty() {
        return Ok(None);
    }
    let latest = store.tree_heads(None, 1)?.into_iter().next();
    let head = chosen_head(
        latest,
        |size| Ok(store.tree_head_of_size(size)?),
        args.tree_size,
    )?;
    let mut tree = StoredTree::new(store);
    let mut proven = Vec::new();
    let mut later = 0;
    for entry in entries {
        if entry.source.delivery_seq > head.tree_size {
            later += 1;
            continue;
        }
        let proof = tree.inclusion(entry.source.delivery_seq, head.tree_size)?;
        proven.push(ProvenEntry { entry, proof });
    }
    Ok(Some((bundle(&args.subject, head, proven), later)))
}

fn prove_from_gateway(
    remote: &Remote,
    args: &ProveArgs,
) -> anyhow::Result<Option<(Bundle, usize)>> {
    let subject = Some(&args.subject);
    let mut page = match remote.export_page(subject, None) {
        Err(err) if refused_as_not_found(&err) => return Ok(None),
        page => page?,
    };
    if page.0.is_empty() {
        return Ok(None);
    }
    let latest = remote.digests(None, 1)?.into_iter().next();
    let head = chosen_head(latest, |size| remote.head_of_size(size), args.tree_size)?;
    let mut proven = Vec::new();
    let mut later = 0;
    loop {
        let (entries, next) = page;
        for entry in entries {
            if entry.source.delivery_seq > head.tree_size {
                later += 1;
                continue;
            }
            let proof = remote.proof(&entry.id.to_string(), head.tree_size)?;
            proven.push(ProvenEntry { entry, proof });
        }
        match next {
            Some(next) => page = remote.export_page(subject, Some(&next))?,
            None => break,
        }
    }
    Ok(Some((bundle(&args.subject, head, proven), later)))
}

fn bundle(subject: &Subject, digest: SignedHead, entries: Vec<ProvenEntry>) -> Bundle {
    Bundle {
        format: Bundle::FORMAT.to_owned(),
        subject: subject.key(),
        digest,
        entries,
    }
}

/// `verify --digests DIR --public-key KEY [BUNDLE]`.
#[derive(clap::Args, Clone, Default)]
pub struct DigestArgs {
    /// A folder of published signed heads (`*.json`, each one head or a list of them, as
    /// `GET /api/v1/digests` answers): check the log against them.
    #[arg(long, requires = "public_key")]
    pub digests: Option<PathBuf>,
    /// The key the heads are signed with (`ed25519:…`, as `hooktrail keygen` printed it);
    /// give it once per key if the operator rotated keys.
    #[arg(long, requires = "digests")]
    pub public_key: Vec<String>,
    /// A `hooktrail prove` output to check against the published heads instead of the store.
    #[arg(requires = "digests")]
    pub bundle: Option<PathBuf>,
}

/// Checks a store, a running gateway or a bundle against published heads. Every failure is
/// printed; the exit code is 1 if there was any.
pub fn verify_digests(
    config: &Config,
    remote: &RemoteArgs,
    dir: &Path,
    keys: &[String],
    bundle: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let keys = keys
        .iter()
        .map(|key| PublicKey::parse(key))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| anyhow::anyhow!("--public-key: {err}"))?;
    let published = audit::read_published(dir)?;
    let mut failures = audit::check_published(&published, &keys);
    let what = match bundle {
        Some(path) => {
            failures.extend(check_bundle(path, &published, &keys)?);
            format!("the proofs in {}", path.display())
        }
        None => match reach(config, remote)? {
            Reach::Store(store) => {
                failures.extend(audit::check_log(store.as_ref(), &published)?);
                "the log".to_owned()
            }
            Reach::Live(remote) => {
                failures.extend(check_gateway(&remote, &published, &keys)?);
                "the running gateway's log".to_owned()
            }
        },
    };
    for failure in &failures {
        println!("FAILED: {failure}");
    }
    if failures.is_empty() {
        println!(
            "ok: {} published heads signed by key {}; {what} holds every one",
            published.len(),
            audit::key_ids(&keys)
        );
        Ok(ExitCode::SUCCESS)
    } else {
        Ok(ExitCode::FAILURE)
    }
}

/// The running gateway's latest head is signed by one of `keys`, and its log extends every published
/// head (a consistency proof for each).
fn check_gateway(
    remote: &Remote,
    published: &BTreeMap<u64, SignedHead>,
    keys: &[PublicKey],
) -> anyhow::Result<Vec<String>> {
    let mut failures = Vec::new();
    let latest = remote
        .digests(None, 1)?
        .into_iter()
        .next()
        .context("the gateway has no signed head")?;
    if !latest.verifies_with_one_of(keys) {
        failures.push(format!(
            "the gateway's head {} is not signed by key {}",
            latest.number,
            audit::key_ids(keys)
        ));
    }
    for head in published.values() {
        if head.number > latest.number {
            failures.push(format!(
                "head {} was published but the gateway's latest is {}",
                head.number, latest.number
            ));
            continue;
        }
        let answer = remote.consistency(head.number, latest.number)?;
        let holds = answer.from == *head
            && answer.to == latest
            && merkle::verify_consistency(
                head.tree_size,
                latest.tree_size,
                &head.root,
                &latest.root,
                &answer.proof,
            );
        if !holds {
            failures.push(format!(
                "head {} (tree size {}): the gateway's log does not extend it",
                head.number, head.tree_size
            ));
        }
    }
    Ok(failures)
}

fn check_bundle(
    path: &Path,
    published: &BTreeMap<u64, SignedHead>,
    keys: &[PublicKey],
) -> anyhow::Result<Vec<String>> {
    let text = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let bundle: Bundle = serde_json::from_slice(&text)
        .with_context(|| format!("{} is not a `hooktrail prove` output", path.display()))?;
    Ok(audit::check_bundle(&bundle, published, keys))
}
