//! Live timelines held open while a cell runs (`gateway-streams`): what following them costs
//! intake, and the memory each open stream takes.
//!
//! Each stream follows a job the load posts about, so the streams do real work: every commit
//! wakes them, the ones whose job changed read and send the new entry. Readers take what is
//! sent as a browser would and count the entries.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context;
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;

use crate::apart::ProcessUse;
use crate::workload::JOBS;

/// How many streams `gateway-streams` opens.
pub(crate) const STREAMS: usize = 500;
/// The bearer token the streams present (the bench gateways accept it).
pub(crate) const TOKEN: &str = "hooktrail-bench-stream-token";

/// The `[[auth.api_tokens]]` table that lets the streams in.
pub(crate) fn api_token_toml() -> String {
    use sha2::Digest;
    let sha = hex::encode(sha2::Sha256::digest(TOKEN.as_bytes()));
    format!("[[auth.api_tokens]]\nname = \"bench\"\ntoken_sha256 = \"{sha}\"\n")
}

/// What the open streams did over a cell.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct StreamStats {
    pub(crate) open: usize,
    /// How much the gateway's resident memory grew per stream as they opened.
    pub(crate) kib_per_stream: Option<f64>,
    /// Entry events the streams received.
    pub(crate) events: u64,
}

/// Streams open on a gateway, read until dropped.
pub(crate) struct OpenStreams {
    readers: JoinSet<()>,
    events: Arc<AtomicU64>,
    kib_per_stream: Option<f64>,
}

impl OpenStreams {
    /// Opens `count` streams on jobs the intake workload posts about, each past its first
    /// bytes (so it is registered) before the next; measures the memory they took in the
    /// gateway, whose memory `server` reads.
    pub(crate) async fn open(
        addr: SocketAddr,
        count: usize,
        server: Option<ProcessUse>,
    ) -> anyhow::Result<OpenStreams> {
        let before = server.and_then(ProcessUse::resident_kib);
        let events = Arc::new(AtomicU64::new(0));
        let mut readers = JoinSet::new();
        for index in 0..count {
            let job = 1000 + (index as u64 * (JOBS / count.max(1) as u64)) % JOBS;
            let mut stream = TcpStream::connect(addr)
                .await
                .with_context(|| format!("cannot open stream {index}"))?;
            let request = format!(
                "GET /api/v1/subjects/job/{job}/stream HTTP/1.1\r\nHost: {addr}\r\n\
                 Authorization: Bearer {TOKEN}\r\nAccept: text/event-stream\r\n\r\n"
            );
            stream.write_all(request.as_bytes()).await?;
            let mut first = [0u8; 1024];
            let read = stream.read(&mut first).await?;
            anyhow::ensure!(
                first[..read].starts_with(b"HTTP/1.1 200"),
                "stream {index} was refused: {}",
                String::from_utf8_lossy(&first[..read.min(80)])
            );
            let events = events.clone();
            readers.spawn(async move {
                let mut buffer = vec![0u8; 16 * 1024];
                while let Ok(read) = stream.read(&mut buffer).await {
                    if read == 0 {
                        break;
                    }
                    let text = &buffer[..read];
                    let found = text
                        .windows(b"event: entry".len())
                        .filter(|window| *window == b"event: entry")
                        .count();
                    events.fetch_add(found as u64, Ordering::Relaxed);
                }
            });
        }
        let after = server.and_then(ProcessUse::resident_kib);
        let kib_per_stream = match (before, after) {
            (Some(before), Some(after)) if count > 0 => {
                Some(after.saturating_sub(before) as f64 / count as f64)
            }
            _ => None,
        };
        Ok(OpenStreams {
            readers,
            events,
            kib_per_stream,
        })
    }

    /// Closes every stream; what they did.
    pub(crate) async fn close(mut self) -> StreamStats {
        let open = self.readers.len();
        self.readers.abort_all();
        while self.readers.join_next().await.is_some() {}
        StreamStats {
            open,
            kib_per_stream: self.kib_per_stream,
            events: self.events.load(Ordering::Relaxed),
        }
    }
}
