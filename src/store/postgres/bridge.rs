//! The store's seam is synchronous (the writer is a thread; reads run on blocking threads);
//! the PostgreSQL client is async. The bridge owns a small runtime where the connections
//! live, and runs each database call there, waiting for it on a plain channel — which works
//! from any thread, inside another runtime or not.

use std::future::Future;
use std::sync::mpsc;

use tokio::runtime::{Handle, Runtime};

use crate::store::StoreError;

pub struct Bridge {
    /// Always `Some` until dropped.
    runtime: Option<Runtime>,
}

impl Bridge {
    pub fn new() -> Result<Bridge, StoreError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("hooktrail-postgres")
            .enable_all()
            .build()
            .map_err(|err| StoreError::Unavailable(format!("cannot start the client: {err}")))?;
        Ok(Bridge {
            runtime: Some(runtime),
        })
    }

    pub fn handle(&self) -> Handle {
        match &self.runtime {
            Some(runtime) => runtime.handle().clone(),
            None => unreachable!("the runtime lives until the bridge is dropped"),
        }
    }

    /// Runs `work` on the client's runtime and waits for its result.
    pub fn run<T: Send + 'static>(
        &self,
        work: impl Future<Output = Result<T, StoreError>> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (done, result) = mpsc::sync_channel(1);
        self.handle().spawn(async move {
            let _ = done.send(work.await);
        });
        result.recv().unwrap_or_else(|_| {
            Err(StoreError::Unavailable(
                "the database client stopped".to_owned(),
            ))
        })
    }
}

impl Drop for Bridge {
    /// Without waiting: a store may be dropped on an async thread, where blocking is refused.
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
