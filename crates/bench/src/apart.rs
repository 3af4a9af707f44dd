//! A cell's server in a process of its own: this program started again with `--serve`, so
//! that the memory and CPU time a cell reports are the server's alone, not the load client's
//! beside it, and nothing one cell allocated stays behind in the next.
//!
//! The two sides speak over the child's standard streams:
//! - the child prints the address it listens on as the first line of its stdout;
//! - it serves until its stdin closes, then stops gracefully (removing a store it made) and
//!   exits. The parent closes that stdin to stop it, and so does the system when the parent
//!   dies, so a server never outlives its bench.
//!
//! The child is the same binary as the bench: the same allocator and memory settings, the same
//! config, and the runtime `hooktrail serve` runs the gateway on.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

use anyhow::Context;
use hooktrail::app::INDEXER_THREAD;
use hooktrail::store::writer::WRITER_THREAD;
use serde::Serialize;

use crate::Target;
use crate::durable::SYNCER_THREAD;
use crate::servers::start_intake_server;

/// The hidden option that makes the program serve one target instead of measuring.
pub(crate) const SERVE_OPTION: &str = "--serve";
/// With [`SERVE_OPTION`]: the store the served gateway opens (for `gateway-filled`).
pub(crate) const STORE_OPTION: &str = "--serve-store";
/// How long a server may take to stop after its stdin closes before it is killed.
const STOP_PATIENCE: Duration = Duration::from_secs(20);

/// A cell's server running in a child process.
pub(crate) struct ServerProcess {
    child: Child,
    /// Closed to stop the server.
    stdin: Option<ChildStdin>,
    addr: SocketAddr,
}

impl ServerProcess {
    /// Starts this program serving `target` (on the store at `store`, where the target opens
    /// one) and waits until it listens.
    pub(crate) fn spawn(target: Target, store: Option<&Path>) -> anyhow::Result<ServerProcess> {
        let program = std::env::current_exe().context("cannot find the bench's own program")?;
        let mut command = Command::new(program);
        command.arg(SERVE_OPTION).arg(target.to_string());
        if let Some(store) = store {
            command.arg(STORE_OPTION).arg(store);
        }
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("cannot start the server's process")?;
        let stdin = child.stdin.take();
        let announced = child
            .stdout
            .take()
            .context("the server's stdout is not piped")
            .and_then(read_address);
        match announced {
            Ok(addr) => Ok(ServerProcess { child, stdin, addr }),
            Err(err) => {
                // It said nothing usable: it is stopped here rather than left running.
                let _ = child.kill();
                let _ = child.wait();
                Err(err)
            }
        }
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The server's process, to read its memory and CPU time while it runs.
    pub(crate) fn process(&self) -> ProcessUse {
        ProcessUse(self.child.id())
    }

    /// Closes the server's stdin and waits for it to stop; kills it past [`STOP_PATIENCE`].
    pub(crate) async fn stop(mut self) -> anyhow::Result<()> {
        drop(self.stdin.take());
        let mut child = self.child;
        tokio::task::spawn_blocking(move || {
            let started = std::time::Instant::now();
            loop {
                if let Some(status) = child.try_wait()? {
                    anyhow::ensure!(status.success(), "the server's process ended with {status}");
                    return Ok(());
                }
                if started.elapsed() > STOP_PATIENCE {
                    child.kill()?;
                    child.wait()?;
                    anyhow::bail!("the server's process did not stop in {STOP_PATIENCE:?}");
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        })
        .await?
    }
}

/// The first line the server prints: the address it listens on.
fn read_address(stdout: impl Read) -> anyhow::Result<SocketAddr> {
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .context("cannot read the server's address")?;
    line.trim()
        .parse()
        .with_context(|| format!("the server announced {:?}, not an address", line.trim()))
}

/// What a running process uses, as Linux's /proc reports it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ProcessUse(u32);

/// The unit of the CPU times in /proc/<pid>/stat: `USER_HZ`, 100 on every Linux.
const TICKS_PER_SECOND: f64 = 100.0;

impl ProcessUse {
    /// Resident memory now, in KiB; `None` where /proc does not say.
    pub(crate) fn resident_kib(self) -> Option<u64> {
        self.status_kib("VmRSS")
    }

    /// The most resident memory it has held since it started, in KiB: for a server started
    /// for its cell, its peak under the cell's load.
    pub(crate) fn peak_resident_kib(self) -> Option<u64> {
        self.status_kib("VmHWM")
    }

    fn status_kib(self, field: &str) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.0)).ok()?;
        kib_of(&status, field)
    }

    /// CPU time it has used so far, user and system, in all and by thread.
    pub(crate) fn cpu(self) -> Option<CpuReading> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.0)).ok()?;
        let total = cpu_seconds_of(&stat)?;
        let tasks = std::fs::read_dir(format!("/proc/{}/task", self.0)).ok()?;
        let threads = tasks
            .filter_map(|task| {
                let task = task.ok()?;
                let tid: u32 = task.file_name().to_str()?.parse().ok()?;
                // A thread that ended since the folder was listed is left out.
                let stat = std::fs::read_to_string(task.path().join("stat")).ok()?;
                let role = ThreadRole::of(name_of(&stat)?);
                Some((tid, (role, cpu_seconds_of(&stat)?)))
            })
            .collect();
        Some(CpuReading { total, threads })
    }
}

/// What a server's thread is for, told by the name the gateway or its libraries give it.
/// Linux keeps a thread's name to 15 bytes ([`as_kept`]), so names are matched by how they
/// start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ThreadRole {
    /// actix's HTTP workers (`actix-rt|system:0|arbiter:N`): reading requests, verifying,
    /// normalizing, answering.
    Http,
    /// The store's writer ([`WRITER_THREAD`]): group commits, the journal, the views; in
    /// `plain-durable`, the thread that writes and syncs its log ([`SYNCER_THREAD`]).
    Writer,
    /// The search indexer ([`INDEXER_THREAD`]) and the threads tantivy starts from it to index,
    /// compress stored documents and manage segments.
    Indexing,
    /// tantivy's merges of the index's segments (`merge_thread_N`).
    Merges,
    /// Every other thread, and those that ended between readings unseen.
    Other,
}

impl ThreadRole {
    pub(crate) const ALL: [ThreadRole; 5] = [
        ThreadRole::Http,
        ThreadRole::Writer,
        ThreadRole::Indexing,
        ThreadRole::Merges,
        ThreadRole::Other,
    ];

    /// The role of the thread Linux names `name`. The gateway's own threads are matched by
    /// the names it gives them, as Linux keeps them; actix's and tantivy's by theirs.
    fn of(name: &str) -> ThreadRole {
        let starts = |prefixes: &[&str]| {
            prefixes
                .iter()
                .any(|prefix| name.starts_with(as_kept(prefix)))
        };
        if starts(&["actix-rt"]) {
            ThreadRole::Http
        } else if starts(&[WRITER_THREAD, SYNCER_THREAD]) {
            ThreadRole::Writer
        } else if starts(&[
            INDEXER_THREAD,
            "thrd-tantivy",
            "docstore-compre",
            "segment_updater",
        ]) {
            ThreadRole::Indexing
        } else if starts(&["merge_thread"]) {
            ThreadRole::Merges
        } else {
            ThreadRole::Other
        }
    }

    pub(crate) fn label(self) -> &'static str {
        match self {
            ThreadRole::Http => "HTTP",
            ThreadRole::Writer => "writer",
            ThreadRole::Indexing => "indexing",
            ThreadRole::Merges => "merges",
            ThreadRole::Other => "other",
        }
    }
}

/// The CPU time a process had used at one moment, in seconds: in all, and by thread id.
#[derive(Debug, Clone, Default)]
pub(crate) struct CpuReading {
    total: f64,
    threads: HashMap<u32, (ThreadRole, f64)>,
}

/// The CPU time a process used between two readings, in seconds: in all, and by what its
/// threads do.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CpuUse {
    pub(crate) total: f64,
    pub(crate) by_role: BTreeMap<ThreadRole, f64>,
}

impl CpuReading {
    /// Takes in a later reading, keeping the last times of threads that have ended since, so
    /// that readings taken often enough place the time of short-lived threads (tantivy starts
    /// its indexing threads again at every commit) by what they did.
    pub(crate) fn follow(&mut self, later: CpuReading) {
        self.total = later.total;
        self.threads.extend(later.threads);
    }

    /// What was used since `earlier`. A thread started in between counts from nothing; the
    /// time of one that ended unseen is only in the total, so it counts as
    /// [`ThreadRole::Other`], which is the rest of the total.
    ///
    /// The threads' times are read just after the process's, and Linux rounds each to ticks
    /// (10 ms) on its own, so over a short window they can add up to a tick or two more than
    /// the process's total. The total is then their sum: the parts never exceed the whole.
    pub(crate) fn since(&self, earlier: &CpuReading) -> CpuUse {
        let mut by_role = BTreeMap::new();
        for (tid, (role, seconds)) in &self.threads {
            if *role == ThreadRole::Other {
                continue;
            }
            let before = earlier
                .threads
                .get(tid)
                .map_or(0.0, |(_, seconds)| *seconds);
            *by_role.entry(*role).or_insert(0.0) += (seconds - before).max(0.0);
        }
        let named: f64 = by_role.values().sum();
        let total = (self.total - earlier.total).max(named);
        by_role.insert(ThreadRole::Other, total - named);
        CpuUse { total, by_role }
    }
}

/// The KiB a /proc/<pid>/status line gives `field` (`VmRSS:    115044 kB`).
fn kib_of(status: &str, field: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let value = line.strip_prefix(field)?.strip_prefix(':')?;
        value.split_whitespace().next()?.parse().ok()
    })
}

/// The bytes of a thread's name that Linux keeps (and shows in /proc): 15.
const KEPT_NAME_BYTES: usize = 15;

/// What Linux shows of a thread named `name`.
fn as_kept(name: &str) -> &str {
    name.get(..KEPT_NAME_BYTES).unwrap_or(name)
}

/// The command's name in a /proc stat line: between the first `(` and the last `)`.
fn name_of(stat: &str) -> Option<&str> {
    let start = stat.find('(')? + 1;
    let end = stat.rfind(')')?;
    stat.get(start..end)
}

/// utime + stime of a /proc/<pid>/stat line: its 14th and 15th fields, counted after the
/// command's name (which may hold spaces and parentheses, so from the last `)`).
fn cpu_seconds_of(stat: &str) -> Option<f64> {
    let (_, after_name) = stat.rsplit_once(')')?;
    // The fields after the name start at the 3rd (state).
    let mut fields = after_name.split_whitespace().skip(14 - 3);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some((user + system) as f64 / TICKS_PER_SECOND)
}

/// The child's side: serves `target` until stdin closes, on the runtime `hooktrail serve`
/// runs the gateway on (actix's system: one thread for the gateway's own tasks besides the
/// HTTP workers).
pub fn serve(target: Target, store: Option<PathBuf>) -> anyhow::Result<()> {
    actix_web::rt::System::new().block_on(async {
        let server = start_intake_server(target, store.as_deref())
            .with_context(|| format!("cannot start the {target} server"))?;
        let addrs = server.addrs();
        let addr = addrs.first().context("the server listens nowhere")?;
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{addr}")?;
        stdout.flush()?;
        drop(stdout);
        // Serves until the bench closes this end (or dies).
        tokio::task::spawn_blocking(|| std::io::stdin().lock().read_to_end(&mut Vec::new()))
            .await??;
        server.stop().await
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_is_read_off_the_status_lines_by_their_field() {
        let status = "Name:\thooktrail-bench\nVmPeak:\t 1200000 kB\nVmHWM:\t  160324 kB\n\
                      VmRSS:\t  115044 kB\nRssAnon:\t   90000 kB\n";
        assert_eq!(kib_of(status, "VmRSS"), Some(115_044));
        assert_eq!(kib_of(status, "VmHWM"), Some(160_324));
        // A field's name is whole: `Vm` is none of them.
        assert_eq!(kib_of(status, "Vm"), None);
        assert_eq!(kib_of(status, "VmSwap"), None);
    }

    #[test]
    fn the_address_is_the_first_line() {
        let addr = read_address(&b"127.0.0.1:4123\nlater output\n"[..]).unwrap();
        assert_eq!(addr, "127.0.0.1:4123".parse().unwrap());
        let err = read_address(&b"error: no store\n"[..]).unwrap_err();
        assert!(err.to_string().contains("error: no store"), "{err}");
        assert!(read_address(&b""[..]).is_err());
    }

    #[test]
    fn this_process_has_resident_memory_and_has_used_cpu() {
        let this = ProcessUse(std::process::id());
        if cfg!(target_os = "linux") {
            assert!(this.resident_kib().is_some_and(|kib| kib > 0));
            let spin = std::time::Instant::now();
            while spin.elapsed() < Duration::from_millis(50) {}
            let reading = this.cpu().unwrap();
            assert!(reading.total > 0.0);
            // The test's own thread is among them, by its id.
            assert!(!reading.threads.is_empty());
            let used = reading.since(&CpuReading::default());
            assert!((used.by_role.values().sum::<f64>() - used.total).abs() < 1e-9);
        }
    }

    #[test]
    fn threads_are_told_apart_by_the_names_linux_keeps() {
        for (name, role) in [
            ("actix-rt|system", ThreadRole::Http),
            ("hooktrail-write", ThreadRole::Writer),
            ("hooktrail-index", ThreadRole::Indexing),
            ("thrd-tantivy-in", ThreadRole::Indexing),
            ("segment_updater", ThreadRole::Indexing),
            ("docstore-compre", ThreadRole::Indexing),
            ("merge_thread_0", ThreadRole::Merges),
            ("hooktrail-bench", ThreadRole::Other),
            ("tokio-rt-worker", ThreadRole::Other),
        ] {
            assert_eq!(ThreadRole::of(name), role, "{name}");
        }
        // The gateway's threads by the names it gives them, as Linux keeps them.
        assert_eq!(as_kept(WRITER_THREAD), "hooktrail-write");
        assert_eq!(ThreadRole::of(as_kept(WRITER_THREAD)), ThreadRole::Writer);
        assert_eq!(ThreadRole::of(as_kept(SYNCER_THREAD)), ThreadRole::Writer);
        assert_eq!(
            ThreadRole::of(as_kept(INDEXER_THREAD)),
            ThreadRole::Indexing
        );
        assert_eq!(name_of("17 (merge_thread_1) S 1"), Some("merge_thread_1"));
        assert_eq!(name_of("17 (a (b) c) S 1"), Some("a (b) c"));
    }

    #[test]
    fn time_of_threads_that_ended_is_the_rest_of_the_total() {
        let reading = |total, threads: &[(u32, ThreadRole, f64)]| CpuReading {
            total,
            threads: threads
                .iter()
                .map(|&(tid, role, seconds)| (tid, (role, seconds)))
                .collect(),
        };
        let earlier = reading(
            10.0,
            &[
                (1, ThreadRole::Http, 4.0),
                (2, ThreadRole::Writer, 3.0),
                (3, ThreadRole::Merges, 2.0),
            ],
        );
        // The merge thread ended after 0.5 s more; another started and used 1.5.
        let later = reading(
            17.0,
            &[
                (1, ThreadRole::Http, 6.0),
                (2, ThreadRole::Writer, 5.0),
                (4, ThreadRole::Merges, 1.5),
                (5, ThreadRole::Other, 0.25),
            ],
        );
        let used = later.since(&earlier);
        assert_eq!(used.total, 7.0);
        // Read only at both ends, the ended thread's last half second is the rest's.
        assert_eq!(
            used.by_role,
            BTreeMap::from([
                (ThreadRole::Http, 2.0),
                (ThreadRole::Writer, 2.0),
                (ThreadRole::Merges, 1.5),
                (ThreadRole::Other, 1.5),
            ])
        );
        // Followed, the merge thread is seen once more before it ends: its time is its own.
        let mut followed = earlier.clone();
        followed.follow(reading(
            12.0,
            &[
                (1, ThreadRole::Http, 5.0),
                (2, ThreadRole::Writer, 3.5),
                (3, ThreadRole::Merges, 2.5),
            ],
        ));
        followed.follow(later.clone());
        assert_eq!(
            followed.since(&earlier).by_role,
            BTreeMap::from([
                (ThreadRole::Http, 2.0),
                (ThreadRole::Writer, 2.0),
                (ThreadRole::Merges, 2.0),
                (ThreadRole::Other, 1.0),
            ])
        );
    }

    #[test]
    fn threads_read_past_the_process_total_make_the_total() {
        let reading = |total, http, writer| CpuReading {
            total,
            threads: HashMap::from([
                (1, (ThreadRole::Http, http)),
                (2, (ThreadRole::Writer, writer)),
            ]),
        };
        // The process read at 0.42 s, its threads a moment later at 0.33 and 0.11.
        let used = reading(0.42, 0.33, 0.11).since(&reading(0.0, 0.0, 0.0));
        assert!((used.total - 0.44).abs() < 1e-9, "{used:?}");
        assert_eq!(used.by_role[&ThreadRole::Other], 0.0);
        assert!((used.by_role.values().sum::<f64>() - used.total).abs() < 1e-9);
    }

    #[test]
    fn cpu_time_is_user_and_system_whatever_the_name_holds() {
        let stat = "4242 (bench (x) y) S 1 4242 4242 0 -1 4194560 \
                    900 0 0 0 250 50 0 0 20 0 17 0 100 0 0";
        assert_eq!(cpu_seconds_of(stat), Some(3.0));
        assert_eq!(cpu_seconds_of("4242 (cut) S 1"), None);
    }
}
