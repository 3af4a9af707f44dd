//! How the gateway's process takes memory from the kernel.

/// Turns transparent huge pages off for this process, before it starts its threads.
///
/// mimalloc advises huge pages on the regions it maps, and gives memory back to the kernel
/// in 64 KiB pieces once it has been free for a second. Where the kernel's THP mode is
/// `madvise` (the usual default), a fault in such a region after that takes a fresh 2 MiB
/// page, which the kernel zeroes on the faulting thread. Under load at 64 connections that
/// zeroing was 5.5% of all the gateway's CPU, most of it on the HTTP workers in the middle of
/// answering; without it intake's p99 fell by a third to a half, at the same throughput and
/// with less resident memory (docs/architecture.md, "No transparent huge pages").
///
/// The setting is the process's, inherited by what it spawns. Huge pages mapped before it
/// stay; no fault takes one after it. A kernel that refuses it leaves them on, which is
/// slower, not wrong: that is logged, and nothing else changes.
pub fn small_pages_only() {
    #[cfg(target_os = "linux")]
    if let Err(err) = rustix::thread::disable_transparent_huge_pages(true) {
        tracing::warn!(error = %err, "transparent huge pages stay on for this process");
    }
}
