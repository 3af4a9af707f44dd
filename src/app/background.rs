//! Background threads take the CPU's leftovers.
//!
//! A projection that may lag (the search index) must never slow the one promise that may not:
//! the 2xx. The nice value alone does not give that: a thread at nice 19 still gets a slice
//! whenever it is runnable, and on two cores, with the writer, the HTTP workers and the
//! indexer all runnable, those slices come out of intake. Measured at 64 connections, the
//! indexer at nice 19 cost a fifth of intake's throughput and doubled its p99.
//!
//! Linux's `SCHED_IDLE` class runs a thread only on a CPU no ordinary thread wants. Entering
//! it needs no privilege. Threads inherit the class from the thread that starts them, so
//! tantivy's indexing and merging threads, made from the indexer's, run there too.

/// How a thread was placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CpuShare {
    /// The idle class: the CPU's leftovers (Linux).
    Idle,
    /// The lowest ordinary priority (nice 19), where the idle class is not available.
    Lowest,
    /// Left as it was: neither could be set.
    Unchanged,
}

/// Puts the calling thread, and every thread it starts from now on, where it takes only what
/// intake leaves of the CPU (see the module's comment).
pub fn leave_the_cpu_to_intake() -> CpuShare {
    #[cfg(target_os = "linux")]
    {
        use thread_priority::{
            NormalThreadSchedulePolicy, ThreadPriority, ThreadSchedulePolicy,
            set_thread_priority_and_policy, thread_native_id,
        };
        let idle = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle);
        match set_thread_priority_and_policy(thread_native_id(), ThreadPriority::Min, idle) {
            Ok(()) => return CpuShare::Idle,
            Err(err) => {
                tracing::debug!(error = ?err, "no idle scheduling class; trying nice 19")
            }
        }
    }
    match rustix::process::setpriority_process(None, 19) {
        Ok(()) => CpuShare::Lowest,
        Err(err) => {
            tracing::debug!(error = %err, "the thread keeps the normal CPU priority");
            CpuShare::Unchanged
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use thread_priority::{
        NormalThreadSchedulePolicy, ThreadSchedulePolicy, thread_schedule_policy,
    };

    const IDLE: ThreadSchedulePolicy =
        ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle);

    /// The indexer's own thread and the threads it starts (tantivy's) all take leftovers
    /// only; the thread that asked for nothing keeps its share.
    #[test]
    fn a_background_thread_and_the_threads_it_starts_take_only_leftovers() {
        let (own, started) = std::thread::spawn(|| {
            let share = leave_the_cpu_to_intake();
            let own = thread_schedule_policy().ok();
            let started = std::thread::spawn(|| thread_schedule_policy().ok())
                .join()
                .expect("the started thread ran");
            (share, own, started)
        })
        .join()
        .map(|(share, own, started)| {
            assert_eq!(share, CpuShare::Idle);
            (own, started)
        })
        .expect("the background thread ran");
        assert_eq!(own, Some(IDLE));
        assert_eq!(started, Some(IDLE), "a thread it starts inherits the class");
        assert_ne!(
            thread_schedule_policy().ok(),
            Some(IDLE),
            "the caller's own thread keeps its share"
        );
    }
}
