//! The event catalog normalizer on arbitrary bodies.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hooktrail_fuzz::catalog(data));
