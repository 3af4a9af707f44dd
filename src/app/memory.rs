//! How the gateway's process takes memory from the kernel and gives it back.

use std::ffi::c_long;

/// Sets up the process's memory: small pages only, and free memory given back promptly.
/// Called first thing in `main`, before any thread starts or any large allocation is made.
pub fn set_up() {
    small_pages_only();
    give_back_free_memory_promptly();
}

/// Turns transparent huge pages off for this process, before it starts its threads.
///
/// mimalloc advises huge pages on the regions it maps, and gives memory back to the kernel
/// in 64 KiB pieces once it has been free for a while. Where the kernel's THP mode is
/// `madvise` (the usual default), a fault in such a region after that takes a fresh 2 MiB
/// page, which the kernel zeroes on the faulting thread. Under load at 64 connections that
/// zeroing was 5.5% of all the gateway's CPU, most of it on the HTTP workers in the middle of
/// answering; without it intake's p99 fell by a third to a half, at the same throughput and
/// with less resident memory (docs/architecture.md, "No transparent huge pages").
///
/// The setting is the process's, inherited by what it spawns. Huge pages mapped before it
/// stay; no fault takes one after it. A kernel that refuses it leaves them on, which is
/// slower, not wrong: that is logged, and nothing else changes.
fn small_pages_only() {
    #[cfg(target_os = "linux")]
    if let Err(err) = rustix::thread::disable_transparent_huge_pages(true) {
        tracing::warn!(error = %err, "transparent huge pages stay on for this process");
    }
}

/// How long memory stays free in mimalloc before it goes back to the kernel, in ms.
const PURGE_DELAY_MS: c_long = 10;
/// `mi_option_purge_delay` in mimalloc.h's `mi_option_e`, which the Rust bindings leave out.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
/// mimalloc's own default for it.
#[cfg(test)]
const MIMALLOC_PURGE_DELAY_MS: c_long = 1000;

/// Has mimalloc give free memory back to the kernel after [`PURGE_DELAY_MS`] rather than its
/// default second.
///
/// The gateway frees memory in large, short-lived pieces all the time: the search indexer's
/// arena and segment buffers every half second, redb's pages as its cache turns over, request
/// bodies. Held for a second, those pieces were 10–60 MiB of the gateway's resident memory
/// under load, for nothing: the same amount is asked of the kernel again moments later either
/// way, now in small pages, which are cheap to fault in (docs/architecture.md, "Free memory
/// goes back promptly"). `MIMALLOC_PURGE_DELAY` in the environment still decides, where set.
fn give_back_free_memory_promptly() {
    // SAFETY: sets the default of one of mimalloc's options, a plain integer it reads at
    // each decision to purge; no memory is touched.
    unsafe {
        libmimalloc_sys::mi_option_set_default(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_memory_goes_back_after_the_gateways_delay() {
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
            // The environment's setting wins, as it should: nothing of ours to check.
            return;
        }
        // SAFETY: reads one of mimalloc's options.
        let purge_delay = || unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) };
        // mimalloc's default: the option is the one meant (no other defaults to a second).
        assert_eq!(purge_delay(), MIMALLOC_PURGE_DELAY_MS);
        give_back_free_memory_promptly();
        assert_eq!(purge_delay(), PURGE_DELAY_MS);
    }
}
