//! The integration tests: real servers on port 0 with temporary stores, real HTTP, the built
//! binary as a child process where a test needs one, headless Chromium for the pages. One test
//! binary with one support module ([`common`], and [`ops_support`] for the operations tests),
//! so the gateway is linked once, not once per file.

mod common;
mod ops_support;

mod alerts;
mod api;
mod backups;
mod browser;
mod cli;
mod console;
mod crash;
mod crash_loop;
mod embed;
mod evidence;
mod faults;
mod fuzz_run;
mod intake;
mod live;
mod metrics;
mod openapi;
mod operations;
mod pages;
mod postgres;
mod properties;
mod providers;
mod replay;
mod search;
mod sign_in;
mod views;
