//! How far the search index trails intake: read from the gateway's search API (its
//! `index_behind`) as the measured window closes, then again until it reads 0. The indexer
//! runs at a lower CPU priority than intake, so under a load that fills the CPU it falls
//! behind; this says by how much, and how soon it has caught up once the load stops.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Serialize;

use crate::commits::get;
use crate::streams::TOKEN;

/// The search the lag is read from: any search answers it; this one is cheap.
const PROBE: &str = "/api/v1/search?kind=status.changed&limit=1";
/// How long to wait for the index to catch up before reporting it has not.
const PATIENCE: Duration = Duration::from_secs(120);

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct IndexLag {
    /// Deliveries not yet searchable when the load stopped.
    pub behind_at_end: u64,
    /// Seconds from then until every delivery was searchable; `None` past [`PATIENCE`].
    pub caught_up_secs: Option<f64>,
}

/// Deliveries the index of the gateway at `addr` is behind by now.
async fn behind(addr: SocketAddr) -> anyhow::Result<u64> {
    let body = get(addr, PROBE, Some(TOKEN)).await?;
    let answer: serde_json::Value = serde_json::from_slice(&body).context("search answer")?;
    answer["index_behind"]["deliveries"]
        .as_u64()
        .context("the search answer has no index_behind")
}

/// Reads the lag now, then polls until it is 0.
pub async fn measure(addr: SocketAddr) -> anyhow::Result<IndexLag> {
    let stopped = Instant::now();
    let behind_at_end = behind(addr).await?;
    let mut lag = behind_at_end;
    while lag > 0 && stopped.elapsed() < PATIENCE {
        tokio::time::sleep(Duration::from_millis(100)).await;
        lag = behind(addr).await?;
    }
    Ok(IndexLag {
        behind_at_end,
        caught_up_secs: (lag == 0).then(|| stopped.elapsed().as_secs_f64()),
    })
}
