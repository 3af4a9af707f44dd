//! What the gateway tells its operators: Prometheus metrics and request timing. Logs are
//! `tracing` events throughout the code; they are set up in `cli`.

pub mod metrics;
pub mod rejections;
pub mod requests;

pub use metrics::{LiveGauges, Metrics};
