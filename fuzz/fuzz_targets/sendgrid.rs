//! The sendgrid verifier and normalizer on arbitrary headers and bodies.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hooktrail_fuzz::source("sendgrid", data));
