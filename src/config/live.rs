//! `[live]`: the bounds on live timelines (`GET /api/v1/subjects/{kind}/{id}/stream`).

use std::num::{NonZeroU64, NonZeroUsize};
use std::time::Duration;

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LiveConfig {
    /// Streams open at once on this gateway; one more is answered 503 with `Retry-After`.
    #[serde(default = "default_max_streams")]
    pub max_streams: NonZeroUsize,
    /// A comment is sent this often on a quiet stream, so proxies and the browser keep it.
    #[serde(default = "default_heartbeat_secs")]
    pub heartbeat_secs: NonZeroU64,
    /// A stream with nothing to send for this long is closed; the browser opens it again
    /// from where it was (`Last-Event-ID`), so nothing is missed.
    #[serde(default = "default_idle_timeout_secs")]
    pub idle_timeout_secs: NonZeroU64,
    /// A client that has not taken what was sent within this long is dropped, rather than
    /// buffered for.
    #[serde(default = "default_send_timeout_secs")]
    pub send_timeout_secs: NonZeroU64,
}

impl LiveConfig {
    pub fn heartbeat(&self) -> Duration {
        Duration::from_secs(self.heartbeat_secs.get())
    }

    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout_secs.get())
    }

    pub fn send_timeout(&self) -> Duration {
        Duration::from_secs(self.send_timeout_secs.get())
    }
}

impl Default for LiveConfig {
    fn default() -> Self {
        LiveConfig {
            max_streams: default_max_streams(),
            heartbeat_secs: default_heartbeat_secs(),
            idle_timeout_secs: default_idle_timeout_secs(),
            send_timeout_secs: default_send_timeout_secs(),
        }
    }
}

fn default_max_streams() -> NonZeroUsize {
    NonZeroUsize::new(1000).unwrap_or(NonZeroUsize::MIN)
}

fn default_heartbeat_secs() -> NonZeroU64 {
    NonZeroU64::new(15).unwrap_or(NonZeroU64::MIN)
}

fn default_idle_timeout_secs() -> NonZeroU64 {
    NonZeroU64::new(30 * 60).unwrap_or(NonZeroU64::MIN)
}

fn default_send_timeout_secs() -> NonZeroU64 {
    NonZeroU64::new(10).unwrap_or(NonZeroU64::MIN)
}
