//! Hooktrail: a webhook gateway that verifies signed deliveries against their raw bytes,
//! stores them durably before acknowledging, and turns them into activity timelines for the
//! jobs and salesdocs of a print shop.

// Webhook content is hostile: nothing outside tests may panic on an absent value.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod activity;
pub mod alerts;
pub mod app;
pub mod cli;
pub mod config;
pub mod crypto;
pub mod http;
pub mod observability;
pub mod password;
pub mod render;
pub mod search;
pub mod sources;
pub mod store;
pub mod trust;
