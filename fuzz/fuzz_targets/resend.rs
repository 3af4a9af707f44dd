//! Resend's email events (delivered through Svix) on arbitrary bodies.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hooktrail_fuzz::resend(data));
