//! The load: keep-alive connections posting (or reading) back to back, and what they tally.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{SecondsFormat, Utc};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{CONTENT_TYPE, HOST};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::task::{JoinHandle, JoinSet};

use hooktrail::sources::Source;

use crate::workload::{SOURCE_NAME, status_changed_event};
use crate::{CLOSE_TIMEOUT, RECONNECT_PAUSE, REQUEST_TIMEOUT};

/// What a cell's connections send.
pub(crate) enum Load {
    /// Signed events, each new, through the source.
    Intake(Arc<Source>),
    /// The same page again and again, with the session cookie if any.
    Page {
        path: String,
        cookie: Option<String>,
    },
}

/// What every connection of a cell shares.
pub(crate) struct Client {
    /// Connection `n` goes to `addrs[n % len]`: several gateways share the load evenly.
    pub(crate) addrs: Vec<SocketAddr>,
    pub(crate) host: String,
    pub(crate) load: Load,
    /// Numbers the events across connections, so they spread over many subjects.
    pub(crate) events_sent: AtomicU64,
}

impl Client {
    pub(crate) fn new(addrs: Vec<SocketAddr>, load: Load) -> Client {
        Client {
            host: addrs.first().map(ToString::to_string).unwrap_or_default(),
            addrs,
            load,
            events_sent: AtomicU64::new(0),
        }
    }

    pub(crate) fn request(&self) -> anyhow::Result<hyper::Request<Full<Bytes>>> {
        match &self.load {
            Load::Intake(source) => self.signed_request(source),
            Load::Page { path, cookie } => {
                let mut request = hyper::Request::get(path.as_str()).header(HOST, &self.host);
                if let Some(cookie) = cookie {
                    request = request.header(hyper::header::COOKIE, cookie);
                }
                Ok(request.body(Full::new(Bytes::new()))?)
            }
        }
    }

    /// A fresh event, signed now; the signature brings a unique `webhook-id`, so the gateway
    /// stores every request instead of answering duplicates from its dedup index.
    pub(crate) fn signed_request(
        &self,
        source: &Source,
    ) -> anyhow::Result<hyper::Request<Full<Bytes>>> {
        let sequence = self.events_sent.fetch_add(1, Ordering::Relaxed);
        let now = Utc::now();
        let body =
            status_changed_event(sequence, &now.to_rfc3339_opts(SecondsFormat::Millis, true));
        let mut request = hyper::Request::post(format!("/hooks/{SOURCE_NAME}"))
            .header(HOST, &self.host)
            .header(CONTENT_TYPE, "application/json");
        let signed = source
            .sign(&body, now.timestamp(), None)
            .map_err(anyhow::Error::msg)?;
        for (name, value) in signed.headers {
            request = request.header(name, value);
        }
        Ok(request.body(Full::new(Bytes::from(signed.body)))?)
    }
}

/// When a cell's clock runs: load from the start, answers counted from `measure_from` to `until`.
#[derive(Clone, Copy)]
pub(crate) struct Window {
    pub(crate) measure_from: Instant,
    pub(crate) until: Instant,
}

impl Window {
    pub(crate) fn starting_now(warmup: Duration, duration: Duration) -> Window {
        let measure_from = Instant::now() + warmup;
        Window {
            measure_from,
            until: measure_from + duration,
        }
    }

    pub(crate) fn contains(&self, moment: Instant) -> bool {
        self.measure_from <= moment && moment <= self.until
    }
}

/// Opens `connections` connections that post until the window ends, and adds up what they saw.
pub(crate) async fn apply_load(
    client: Arc<Client>,
    connections: u32,
    window: Window,
) -> anyhow::Result<Tally> {
    // A JoinSet aborts the remaining connections if one of them fails outright.
    let mut tasks = JoinSet::new();
    for n in 0..connections as usize {
        let addr = client.addrs[n % client.addrs.len().max(1)];
        tasks.spawn(drive_connection(client.clone(), addr, window));
    }
    let mut total = Tally::default();
    while let Some(finished) = tasks.join_next().await {
        total.merge(finished??);
    }
    Ok(total)
}

/// One keep-alive connection posting sequentially until the window ends. A request in flight
/// at the end is allowed to finish (within [`REQUEST_TIMEOUT`]), so that the server is idle
/// and the connection closes cleanly before the next cell; its answer is not counted.
pub(crate) async fn drive_connection(
    client: Arc<Client>,
    addr: SocketAddr,
    window: Window,
) -> anyhow::Result<Tally> {
    let mut tally = Tally::default();
    let mut connection: Option<Connection> = None;
    while Instant::now() < window.until {
        if connection.is_none() {
            match Connection::open(addr).await {
                Ok(opened) => connection = Some(opened),
                Err(_) => {
                    tally.count_failure(window, Instant::now(), Failure::Connect);
                    tokio::time::sleep(RECONNECT_PAUSE).await;
                    continue;
                }
            }
        }
        let Some(open) = connection.as_mut() else {
            continue;
        };
        let request = client.request()?;
        let started = Instant::now();
        let outcome = open.exchange(request).await;
        let finished = Instant::now();
        match outcome {
            Ok(status) if (200..300).contains(&status) => {
                tally.count_ack(window, finished, finished - started);
            }
            Ok(status) => tally.count_failure(window, finished, Failure::Status(status)),
            Err(failure) => {
                tally.count_failure(window, finished, failure);
                // The connection's state is unknown after a failed exchange: start afresh.
                if let Some(broken) = connection.take() {
                    broken.abandon();
                }
            }
        }
    }
    if let Some(open) = connection {
        open.close().await;
    }
    Ok(tally)
}

/// One hyper HTTP/1.1 client connection and the task that drives its socket.
pub(crate) struct Connection {
    pub(crate) sender: SendRequest<Full<Bytes>>,
    pub(crate) driver: JoinHandle<()>,
}

impl Connection {
    pub(crate) async fn open(addr: SocketAddr) -> anyhow::Result<Connection> {
        let stream = TcpStream::connect(addr).await?;
        // Small request/answer exchanges must not wait for Nagle's algorithm.
        stream.set_nodelay(true)?;
        let (sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        // The connection's own errors also fail the request in flight, which is where they count.
        let driver = tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(Connection { sender, driver })
    }

    /// Sends one request and reads its answer to the end (which frees the connection for
    /// the next request); returns the status code.
    pub(crate) async fn exchange(
        &mut self,
        request: hyper::Request<Full<Bytes>>,
    ) -> Result<u16, Failure> {
        let exchange = async {
            self.sender.ready().await?;
            let response = self.sender.send_request(request).await?;
            let status = response.status().as_u16();
            response.into_body().collect().await?;
            Ok::<u16, hyper::Error>(status)
        };
        match tokio::time::timeout(REQUEST_TIMEOUT, exchange).await {
            Ok(Ok(status)) => Ok(status),
            Ok(Err(_)) => Err(Failure::Transport),
            Err(_) => Err(Failure::Timeout),
        }
    }

    /// Closes the connection politely: with no sender left, hyper shuts the socket down.
    pub(crate) async fn close(self) {
        let Connection { sender, mut driver } = self;
        drop(sender);
        if tokio::time::timeout(CLOSE_TIMEOUT, &mut driver)
            .await
            .is_err()
        {
            driver.abort();
        }
    }

    /// Drops the socket without a goodbye.
    pub(crate) fn abandon(self) {
        self.driver.abort();
    }
}

// ---------------------------------------------------------------------------------------------
// Counting and summarizing

/// Why a request was not acknowledged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Failure {
    Status(u16),
    Timeout,
    Transport,
    Connect,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Status(code) => write!(f, "HTTP {code}"),
            Failure::Timeout => write!(f, "timeout after {} s", REQUEST_TIMEOUT.as_secs()),
            Failure::Transport => f.write_str("connection error"),
            Failure::Connect => f.write_str("connect failed"),
        }
    }
}

/// What one or more connections saw inside the measured window.
#[derive(Default)]
pub(crate) struct Tally {
    /// The latency of every acknowledged (2xx) request.
    pub(crate) ack_latencies: Vec<Duration>,
    pub(crate) failures: BTreeMap<Failure, u64>,
}

impl Tally {
    pub(crate) fn count_ack(&mut self, window: Window, finished: Instant, latency: Duration) {
        if window.contains(finished) {
            self.ack_latencies.push(latency);
        }
    }

    pub(crate) fn count_failure(&mut self, window: Window, finished: Instant, failure: Failure) {
        if window.contains(finished) {
            *self.failures.entry(failure).or_default() += 1;
        }
    }

    pub(crate) fn merge(&mut self, other: Tally) {
        self.ack_latencies.extend(other.ack_latencies);
        for (failure, count) in other.failures {
            *self.failures.entry(failure).or_default() += count;
        }
    }
}
