//! `hooktrail export`: a subject's timeline or everything, oldest first, as JSON lines or CSV —
//! streamed one entry at a time (constant memory), with a progress bar on a terminal.

use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::ValueEnum;
use indicatif::{ProgressBar, ProgressStyle};

use super::maintenance::{Access, access};
use super::remote::RemoteArgs;
use crate::activity::{Entry, Subject};
use crate::config::Config;
use crate::store::Cursor;

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    Jsonl,
    Csv,
}

#[derive(clap::Args)]
pub struct ExportArgs {
    /// One timeline, e.g. job:1042.
    #[arg(long, conflicts_with = "all", required_unless_present = "all")]
    subject: Option<Subject>,
    /// Every entry in the store.
    #[arg(long)]
    all: bool,
    #[arg(long, value_enum, default_value_t = Format::Jsonl)]
    format: Format,
    /// Write here instead of standard output.
    #[arg(long, short)]
    output: Option<PathBuf>,
    #[command(flatten)]
    remote: RemoteArgs,
}

pub const CSV_HEADER: [&str; 13] = [
    "id",
    "occurred_at",
    "received_at",
    "kind",
    "category",
    "subjects",
    "actor_kind",
    "actor_name",
    "summary",
    "source",
    "event_id",
    "delivery_seq",
    "details",
];

pub fn run(config: &Config, args: ExportArgs) -> anyhow::Result<ExitCode> {
    let access = access(config, &args.remote)?;
    let subject = args.subject.as_ref();
    let out: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(
            File::create(path).with_context(|| format!("cannot create {}", path.display()))?,
        ),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut sink = match args.format {
        Format::Jsonl => Sink::Jsonl(BufWriter::new(out)),
        Format::Csv => {
            let mut writer = csv::Writer::from_writer(BufWriter::new(out));
            writer.write_record(CSV_HEADER)?;
            Sink::Csv(Box::new(writer))
        }
    };
    let total = match &access {
        Access::Local(snapshot) => Some(snapshot.count(subject)?),
        Access::Live(_) => None,
    };
    let progress = progress_bar(total);
    // Page by page, from the file or from the running gateway: memory stays flat either way.
    let mut after: Option<String> = None;
    let mut written = 0u64;
    loop {
        let (entries, next) = match &access {
            Access::Local(snapshot) => {
                let cursor = after.as_deref().map(str::parse::<Cursor>).transpose()?;
                let page = snapshot.export_page(subject, cursor, PAGE)?;
                (page.entries, page.next.map(|cursor| cursor.to_string()))
            }
            Access::Live(remote) => remote.export_page(subject, after.as_deref())?,
        };
        for entry in &entries {
            sink.write(entry)?;
            written += 1;
            progress.inc(1);
        }
        match next {
            Some(cursor) if !entries.is_empty() => after = Some(cursor),
            _ => break,
        }
    }
    sink.finish()?;
    progress.finish_and_clear();
    eprintln!("exported {written} entries");
    Ok(ExitCode::SUCCESS)
}

/// Entries read per page.
const PAGE: usize = 500;

/// Where entries go; both are buffered with a fixed-size buffer, so memory stays flat.
enum Sink {
    Jsonl(BufWriter<Box<dyn Write>>),
    Csv(Box<csv::Writer<BufWriter<Box<dyn Write>>>>),
}

impl Sink {
    fn write(&mut self, entry: &Entry) -> anyhow::Result<()> {
        match self {
            Sink::Jsonl(out) => {
                serde_json::to_writer(&mut *out, entry)?;
                out.write_all(b"\n")?;
            }
            Sink::Csv(writer) => writer.write_record(csv_record(entry))?,
        }
        Ok(())
    }

    fn finish(self) -> anyhow::Result<()> {
        match self {
            Sink::Jsonl(mut out) => out.flush()?,
            Sink::Csv(mut writer) => writer.flush()?,
        }
        Ok(())
    }
}

fn csv_record(entry: &Entry) -> Vec<String> {
    let subjects: Vec<String> = entry.subjects.iter().map(Subject::key).collect();
    vec![
        entry.id.to_string(),
        entry.occurred_at.to_rfc3339(),
        entry.received_at.to_rfc3339(),
        entry.kind.to_string(),
        entry.category.as_str().to_owned(),
        subjects.join(" "),
        serde_json::to_value(entry.actor.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default(),
        entry.actor.name.clone(),
        entry.summary.clone(),
        entry.source.name.clone(),
        entry.source.event_id.clone().unwrap_or_default(),
        entry.source.delivery_seq.to_string(),
        serde_json::to_string(&entry.details).unwrap_or_default(),
    ]
}

/// A bar on a terminal; nothing when the output is piped or captured.
fn progress_bar(total: Option<u64>) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let Some(total) = total else {
        return ProgressBar::new_spinner();
    };
    let bar = ProgressBar::new(total);
    if let Ok(style) =
        ProgressStyle::with_template("{bar:40} {pos}/{len} entries ({per_sec}, {eta} left)")
    {
        bar.set_style(style);
    }
    bar
}
