//! `Config::from_toml` on arbitrary text and environment overrides.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hooktrail_fuzz::config(data));
