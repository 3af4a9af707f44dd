//! `hooktrail export`: a subject's timeline or everything, oldest first, as JSON lines or CSV —
//! streamed one entry at a time (constant memory), with a progress bar on a terminal.

use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{ArgGroup, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::maintenance::{Access, access};
use super::remote::{Refusal, RemoteArgs};
use crate::activity::{Entry, Subject};
use crate::config::Config;
use crate::store::Cursor;

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    Jsonl,
    Csv,
}

#[derive(clap::Args)]
#[command(group(ArgGroup::new("what").required(true).args(["subject", "all"])))]
pub struct ExportArgs {
    /// One timeline, e.g. job:1042 (exits 3 if nothing was ever received about it).
    #[arg(long)]
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

pub const CSV_HEADER: [&str; 14] = [
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
    // Last, so that the columns before it keep their places: why the entry wants a look
    // (a time it claimed that was not used, with the claim), as JSON; empty when nothing.
    "flag",
];

pub fn run(config: &Config, args: ExportArgs) -> anyhow::Result<ExitCode> {
    let access = access(config, &args.remote)?;
    let subject = args.subject.as_ref();
    // The first page is read before the output is created, so an unknown subject leaves no
    // empty file behind.
    let first = match (subject, fetch(&access, subject, None)) {
        (Some(subject), Ok((entries, _))) if entries.is_empty() => {
            return Ok(nothing_received(subject));
        }
        (Some(subject), Err(err)) if refused_as_not_found(&err) => {
            return Ok(nothing_received(subject));
        }
        (_, first) => first?,
    };
    let total = match &access {
        Access::Local(snapshot) => Some(snapshot.count(subject)?),
        Access::Database(_) | Access::Live(_) => None,
    };
    let progress = progress_bar(total, draw_target());
    let written = write_pages(&access, subject, first, &args, &progress);
    progress.finish_and_clear();
    match written {
        Ok(written) => {
            eprintln!("exported {written} entries");
            Ok(ExitCode::SUCCESS)
        }
        // A reader that has seen enough (`export … | head`) closes the pipe: that ends the
        // export, quietly and successfully, as it ends `cat` or `grep`. (Rust ignores SIGPIPE,
        // so the closed pipe arrives as this error.)
        Err(err) if is_broken_pipe(&err) => Ok(ExitCode::SUCCESS),
        Err(err) => Err(err),
    }
}

/// The exit status of an export of a subject nothing was received for: distinct from a
/// failure (1) and from a usage error (2), so a script can tell a mistyped id apart.
const NOTHING_RECEIVED: u8 = 3;

fn nothing_received(subject: &Subject) -> ExitCode {
    eprintln!(
        "error: nothing has been received about {} (check the id: a timeline begins with its \
         first event)",
        subject.key()
    );
    ExitCode::from(NOTHING_RECEIVED)
}

/// The running gateway's answer for a subject without history (see `api::unless_nothing_received`).
pub(super) fn refused_as_not_found(err: &anyhow::Error) -> bool {
    err.downcast_ref::<Refusal>().is_some_and(|refusal| {
        refusal.status == reqwest::StatusCode::NOT_FOUND
            && refusal.problem.as_deref() == Some("urn:hooktrail:problem:not-found")
    })
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.downcast_ref::<io::Error>()
        .is_some_and(|err| err.kind() == io::ErrorKind::BrokenPipe)
}

/// Entries and the cursor of the page after them.
type Fetched = (Vec<Entry>, Option<String>);

/// One page, from the file or from the running gateway: memory stays flat either way.
fn fetch(
    access: &Access,
    subject: Option<&Subject>,
    after: Option<&str>,
) -> anyhow::Result<Fetched> {
    match access {
        Access::Local(snapshot) => {
            let cursor = after.map(str::parse::<Cursor>).transpose()?;
            let page = snapshot.export_page(subject, cursor, PAGE)?;
            Ok((page.entries, page.next.map(|cursor| cursor.to_string())))
        }
        Access::Database(store) => {
            let cursor = after.map(str::parse::<Cursor>).transpose()?;
            let page = store.export_page(subject, cursor, PAGE)?;
            Ok((page.entries, page.next.map(|cursor| cursor.to_string())))
        }
        Access::Live(remote) => remote.export_page(subject, after),
    }
}

/// Writes `first` and every page after it; how many entries were written.
fn write_pages(
    access: &Access,
    subject: Option<&Subject>,
    first: Fetched,
    args: &ExportArgs,
    progress: &ProgressBar,
) -> anyhow::Result<u64> {
    let out: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(
            File::create(path).with_context(|| format!("cannot create {}", path.display()))?,
        ),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut sink = Sink::new(args.format, out)?;
    let (mut entries, mut next) = first;
    let mut written = 0u64;
    loop {
        for entry in &entries {
            sink.write(entry)?;
            written += 1;
            progress.inc(1);
        }
        match next {
            Some(cursor) if !entries.is_empty() => {
                (entries, next) = fetch(access, subject, Some(&cursor))?;
            }
            _ => break,
        }
    }
    sink.finish()?;
    Ok(written)
}

/// Entries read per page.
const PAGE: usize = 500;

/// Where entries go; both are buffered with a fixed-size buffer, so memory stays flat. Errors
/// are I/O errors with their kind kept, so a closed pipe can be told apart.
enum Sink {
    Jsonl(BufWriter<Box<dyn Write>>),
    Csv(Box<csv::Writer<BufWriter<Box<dyn Write>>>>),
}

impl Sink {
    fn new(format: Format, out: Box<dyn Write>) -> io::Result<Sink> {
        Ok(match format {
            Format::Jsonl => Sink::Jsonl(BufWriter::new(out)),
            Format::Csv => {
                let mut writer = csv::Writer::from_writer(BufWriter::new(out));
                writer.write_record(CSV_HEADER).map_err(csv_io)?;
                Sink::Csv(Box::new(writer))
            }
        })
    }

    fn write(&mut self, entry: &Entry) -> io::Result<()> {
        match self {
            Sink::Jsonl(out) => {
                serde_json::to_writer(&mut *out, entry)?;
                out.write_all(b"\n")
            }
            Sink::Csv(writer) => writer.write_record(csv_record(entry)).map_err(csv_io),
        }
    }

    fn finish(self) -> io::Result<()> {
        match self {
            Sink::Jsonl(mut out) => out.flush(),
            Sink::Csv(mut writer) => writer.flush(),
        }
    }
}

/// A CSV error as an I/O error of the same kind (`csv` would make every one `Other`).
fn csv_io(err: csv::Error) -> io::Error {
    let kind = match err.kind() {
        csv::ErrorKind::Io(io) => io.kind(),
        _ => io::ErrorKind::Other,
    };
    io::Error::new(kind, err)
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
        entry
            .flag
            .as_ref()
            .and_then(|flag| serde_json::to_string(flag).ok())
            .unwrap_or_default(),
    ]
}

/// Progress goes to a terminal only: nothing when stderr is piped or captured.
fn draw_target() -> ProgressDrawTarget {
    if std::io::stderr().is_terminal() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    }
}

/// A bar when the total is known (a file read directly); otherwise (a running gateway pages
/// without one) a spinner that still counts what has been exported so far.
fn progress_bar(total: Option<u64>, target: ProgressDrawTarget) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(total, target);
    let template = match total {
        Some(_) => "{bar:40} {human_pos}/{human_len} entries ({per_sec}, {eta} left)",
        None => {
            // Pages arrive in bursts; the spinner shows the export is alive in between.
            bar.enable_steady_tick(Duration::from_millis(120));
            "{spinner} {human_pos} entries exported ({per_sec})"
        }
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    bar
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use indicatif::TermLike;

    use super::*;

    /// A terminal that keeps everything drawn on it.
    #[derive(Debug, Clone, Default)]
    struct Screen(Arc<Mutex<String>>);

    impl TermLike for Screen {
        fn width(&self) -> u16 {
            100
        }
        fn move_cursor_up(&self, _: usize) -> io::Result<()> {
            Ok(())
        }
        fn move_cursor_down(&self, _: usize) -> io::Result<()> {
            Ok(())
        }
        fn move_cursor_right(&self, _: usize) -> io::Result<()> {
            Ok(())
        }
        fn move_cursor_left(&self, _: usize) -> io::Result<()> {
            Ok(())
        }
        fn write_line(&self, line: &str) -> io::Result<()> {
            self.write_str(line)
        }
        fn write_str(&self, text: &str) -> io::Result<()> {
            let mut screen = self.0.lock().unwrap();
            screen.push_str(text);
            Ok(())
        }
        fn clear_line(&self) -> io::Result<()> {
            Ok(())
        }
        fn flush(&self) -> io::Result<()> {
            Ok(())
        }
    }

    fn shown(total: Option<u64>, exported: u64) -> String {
        let screen = Screen::default();
        let bar = progress_bar(
            total,
            ProgressDrawTarget::term_like(Box::new(screen.clone())),
        );
        bar.inc(exported);
        bar.abandon();
        screen.0.lock().unwrap().clone()
    }

    #[test]
    fn progress_counts_entries_with_or_without_a_total() {
        let text = shown(None, 1234);
        assert!(text.contains("1,234 entries exported"), "{text:?}");
        assert!(shown(Some(5000), 1234).contains("1,234/5,000 entries"));
    }

    #[test]
    fn a_closed_pipe_is_told_apart_from_other_failures() {
        let closed = io::Error::from(io::ErrorKind::BrokenPipe);
        let mut csv = csv::WriterBuilder::new()
            .buffer_capacity(1)
            .from_writer(Failing(io::ErrorKind::BrokenPipe));
        let csv_closed = csv.write_record(["a", "b"]).unwrap_err();
        assert!(is_broken_pipe(&csv_io(csv_closed).into()));
        assert!(is_broken_pipe(&closed.into()));
        let full = io::Error::from(io::ErrorKind::StorageFull);
        assert!(!is_broken_pipe(&full.into()));
    }

    /// A writer whose every write fails the same way.
    struct Failing(io::ErrorKind);

    impl Write for Failing {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(self.0.into())
        }
        fn flush(&mut self) -> io::Result<()> {
            Err(self.0.into())
        }
    }
}
