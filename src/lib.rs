//! Hooktrail: a webhook gateway that verifies signed deliveries against their raw bytes,
//! stores them durably before acknowledging, and turns them into activity timelines for the
//! jobs and salesdocs of a print shop.

// Webhook content is hostile: nothing outside tests may panic on an absent value.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

// The parsing core: what the fuzz targets build alone (see the `gateway` feature).
pub mod activity;
pub mod config;
pub mod crypto;
pub mod password;
pub mod sources;
pub mod trust;

#[cfg(feature = "gateway")]
pub mod alerts;
#[cfg(feature = "gateway")]
pub mod app;
#[cfg(feature = "gateway")]
pub mod cli;
#[cfg(feature = "gateway")]
pub mod http;
#[cfg(feature = "gateway")]
pub mod observability;
#[cfg(feature = "gateway")]
pub mod render;
#[cfg(feature = "gateway")]
pub mod search;
#[cfg(feature = "gateway")]
pub mod store;
