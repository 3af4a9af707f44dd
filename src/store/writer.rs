//! The group-commit writer: one thread owns the write side of the store. It takes every
//! capture queued while the previous commit ran, writes them all in one transaction, commits
//! (one fsync for the whole batch), and only then answers each request. Under light load a
//! request waits for one fsync; under heavy load one fsync serves hundreds of requests.

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use super::{Appended, Capture, StoreError, WriteSide};

/// Tuning for the writer.
#[derive(Debug, Clone, Copy)]
pub struct WriterConfig {
    /// How many captures may wait for the writer before intake answers 503.
    pub queue_capacity: NonZeroUsize,
    /// The most captures one transaction takes (1 = commit per request).
    pub max_batch: NonZeroUsize,
}

#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error("the intake queue is full")]
    Overloaded,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the writer has stopped")]
    Stopped,
}

/// What the writer reports after each commit, for metrics, logs and readiness.
#[derive(Debug, Clone)]
pub struct BatchReport {
    pub size: usize,
    pub commit: Duration,
    pub ok: bool,
    /// Why the commit failed (when it did).
    pub failure: Option<String>,
}

enum Message {
    Append(Box<QueuedCapture>),
    /// Stop taking new work, commit what is queued, and end the thread.
    Stop,
}

struct QueuedCapture {
    capture: Capture,
    reply: oneshot::Sender<Result<Appended, StoreError>>,
}

/// The sending side, cheap to clone into every request handler.
#[derive(Clone)]
pub struct WriterHandle {
    queue: mpsc::Sender<Message>,
    depth: Arc<AtomicUsize>,
}

impl WriterHandle {
    /// Queues a capture and waits until it is durably committed (or refused).
    pub async fn submit(&self, capture: Capture) -> Result<Appended, SubmitError> {
        let (reply, answer) = oneshot::channel();
        let permit = self.queue.try_reserve().map_err(|err| match err {
            mpsc::error::TrySendError::Full(()) => SubmitError::Overloaded,
            mpsc::error::TrySendError::Closed(()) => SubmitError::Stopped,
        })?;
        self.depth.fetch_add(1, Ordering::Relaxed);
        permit.send(Message::Append(Box::new(QueuedCapture { capture, reply })));
        match answer.await {
            Ok(result) => result.map_err(SubmitError::from),
            Err(_) => Err(SubmitError::Stopped),
        }
    }

    /// Captures waiting for the writer right now.
    pub fn queue_depth(&self) -> usize {
        self.depth.load(Ordering::Relaxed)
    }

    /// Whether a capture submitted now would be refused for want of room. A hint (room may
    /// appear or go a moment later); [`WriterHandle::submit`] decides.
    pub fn is_full(&self) -> bool {
        self.queue.capacity() == 0
    }
}

/// Owns the writer thread; [`Writer::shutdown`] lets it commit what it has and stop.
pub struct Writer {
    thread: JoinHandle<()>,
    queue: mpsc::Sender<Message>,
}

/// The writer thread's name (what `top -H`, `perf` and the intake bench see).
pub const WRITER_THREAD: &str = "hooktrail-writer";

impl Writer {
    /// Starts the writer. It runs until [`Writer::shutdown`] (or until every handle is gone).
    pub fn spawn(
        store: Arc<dyn WriteSide>,
        config: WriterConfig,
        on_batch: impl Fn(BatchReport) + Send + 'static,
    ) -> std::io::Result<(Writer, WriterHandle)> {
        let (queue, receiver) = mpsc::channel(config.queue_capacity.get());
        let depth = Arc::new(AtomicUsize::new(0));
        let thread_depth = depth.clone();
        let max_batch = config.max_batch.get();
        let thread = std::thread::Builder::new()
            .name(WRITER_THREAD.to_owned())
            .spawn(move || run(store, receiver, thread_depth, max_batch, on_batch))?;
        Ok((
            Writer {
                thread,
                queue: queue.clone(),
            },
            WriterHandle { queue, depth },
        ))
    }

    /// Refuses new captures, commits every queued one, and waits for the thread to end.
    /// Blocking: call it from a blocking context.
    pub fn shutdown(self) {
        // The stop message waits behind whatever is queued, so everything queued is committed.
        let _ = self.queue.blocking_send(Message::Stop);
        if self.thread.join().is_err() {
            tracing::error!("the writer thread panicked");
        }
    }
}

fn run(
    store: Arc<dyn WriteSide>,
    mut receiver: mpsc::Receiver<Message>,
    depth: Arc<AtomicUsize>,
    max_batch: usize,
    on_batch: impl Fn(BatchReport),
) {
    let mut jobs = Vec::with_capacity(max_batch);
    // After a stop the receiver is closed: it still yields what is buffered, then `None`.
    while let Some(first) = receiver.blocking_recv() {
        match first {
            Message::Append(job) => jobs.push(*job),
            Message::Stop => receiver.close(),
        }
        while jobs.len() < max_batch {
            match receiver.try_recv() {
                Ok(Message::Append(job)) => jobs.push(*job),
                Ok(Message::Stop) => receiver.close(),
                Err(_) => break,
            }
        }
        if jobs.is_empty() {
            continue;
        }
        depth.fetch_sub(jobs.len(), Ordering::Relaxed);
        let (captures, replies): (Vec<Capture>, Vec<_>) =
            jobs.drain(..).map(|job| (job.capture, job.reply)).unzip();
        let started = Instant::now();
        // A panic inside the store must not kill the only writer: it fails this batch like
        // any other commit error, and the next batch gets a fresh transaction.
        let result =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| store.append(&captures)))
                .unwrap_or_else(|_| {
                    Err(StoreError::Unavailable(
                        "the store panicked during a commit".to_owned(),
                    ))
                });
        let report = BatchReport {
            size: captures.len(),
            commit: started.elapsed(),
            ok: result.is_ok(),
            failure: result.as_ref().err().map(ToString::to_string),
        };
        // Reported before anyone is answered: whoever reads readiness or metrics after an
        // answer sees the commit that produced it.
        on_batch(report);
        match result {
            Ok(outcomes) => {
                for (reply, outcome) in replies.into_iter().zip(outcomes) {
                    // A requester that went away (client hung up) no longer needs the answer;
                    // its delivery is committed all the same.
                    let _ = reply.send(Ok(outcome));
                }
            }
            Err(err) => {
                tracing::error!(error = %err, batch = captures.len(), "commit failed; no request of the batch is acknowledged");
                for reply in replies {
                    let _ = reply.send(Err(StoreError::Unavailable(err.to_string())));
                }
            }
        }
        // Everyone is answered: now what can wait for the next batch (a checkpoint). What
        // fails here is tried again after the next batch; the answers stand.
        let after = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| store.after_batch()))
            .unwrap_or_else(|_| {
                Err(StoreError::Unavailable(
                    "the store panicked after a commit".to_owned(),
                ))
            });
        if let Err(err) = after {
            tracing::warn!(error = %err, "the work after a commit failed; it is tried again after the next");
        }
    }
    tracing::debug!("writer stopped: every handle is gone and the queue is drained");
}
