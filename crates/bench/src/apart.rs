//! A cell's server in a process of its own: this program started again with `--serve`, so
//! that the memory a cell reports is the server's alone, not the load client's beside it, and
//! nothing one cell allocated stays behind in the next.
//!
//! The two sides speak over the child's standard streams:
//! - the child prints the address it listens on as the first line of its stdout;
//! - it serves until its stdin closes, then stops gracefully (removing a store it made) and
//!   exits. The parent closes that stdin to stop it, and so does the system when the parent
//!   dies, so a server never outlives its bench.
//!
//! The child is the same binary as the bench, so it runs the gateway exactly as a cell in the
//! bench's own process would: the same allocator, the same huge-page setting, the same config.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

use anyhow::Context;

use crate::Target;
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

    /// The server's memory, read while it runs.
    pub(crate) fn memory(&self) -> ProcessMemory {
        ProcessMemory(self.child.id())
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

/// A running process's resident memory, as Linux's /proc reports it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ProcessMemory(u32);

impl ProcessMemory {
    /// Resident memory now, in KiB; `None` where /proc does not say.
    pub(crate) fn resident_kib(self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.0)).ok()?;
        let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }
}

/// The child's side: serves `target` until stdin closes.
pub fn serve(target: Target, store: Option<PathBuf>) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("bench-server")
        .build()
        .context("cannot start the server's runtime")?;
    runtime.block_on(async {
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
    fn the_address_is_the_first_line() {
        let addr = read_address(&b"127.0.0.1:4123\nlater output\n"[..]).unwrap();
        assert_eq!(addr, "127.0.0.1:4123".parse().unwrap());
        let err = read_address(&b"error: no store\n"[..]).unwrap_err();
        assert!(err.to_string().contains("error: no store"), "{err}");
        assert!(read_address(&b""[..]).is_err());
    }

    #[test]
    fn this_process_has_resident_memory() {
        let kib = ProcessMemory(std::process::id()).resident_kib();
        if cfg!(target_os = "linux") {
            assert!(kib.is_some_and(|kib| kib > 0));
        }
    }
}
