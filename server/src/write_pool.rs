//! The threads that decode and append writes (remote-write and text import): one per CPU,
//! started with the server, instead of tokio's blocking pool.
//!
//! Why a pool of its own: glibc gives each thread that allocates its own arena, and an arena
//! keeps the memory it grew to. The blocking pool runs every in-flight write on a thread of
//! its own (up to `max_inflight_writes`, plus threads that linger after a burst), so a
//! server's series, chunks and request buffers were spread over that many arenas, each
//! holding its own free space. Two write threads on two CPUs do the same work with two
//! arenas: replaying 200k series x 2 h peaked at 258 MiB instead of 279-303 MiB, at the
//! same CPU time per sample (benches/README.md, "Write threads"). Writes waiting for a
//! thread are still bounded by the write slots they hold.
//!
//! A job that panics is reported to its caller as an internal error; the thread goes on.
//! Each thread has its own queue, so handing a job over wakes exactly the thread that runs it.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Arc;

use crate::error::{Error, Result};

type Job = Box<dyn FnOnce() + Send>;

/// One write thread: its queue and the number of jobs queued or running on it.
struct Worker {
    jobs: mpsc::Sender<Job>,
    pending: Arc<AtomicUsize>,
}

/// A fixed set of threads running write jobs; each job goes to the thread with the fewest
/// jobs queued or running (the first such), and each thread runs its jobs in arrival order.
pub struct WritePool {
    workers: Vec<Worker>,
}

impl WritePool {
    /// Starts `threads` threads (at least one), which stop once the pool is dropped and
    /// the jobs already queued are done.
    pub fn new(threads: usize) -> WritePool {
        let mut workers = Vec::new();
        for i in 0..threads.max(1) {
            let (tx, rx) = mpsc::channel::<Job>();
            let pending = Arc::new(AtomicUsize::new(0));
            let left = pending.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("strata-write-{i}"))
                .spawn(move || {
                    for job in rx {
                        // A panic drops the job's reply channel: its caller gets an error.
                        let _ = catch_unwind(AssertUnwindSafe(job));
                        left.fetch_sub(1, Ordering::AcqRel);
                    }
                });
            match spawned {
                Ok(_) => workers.push(Worker { jobs: tx, pending }),
                // Fewer threads than asked still run every job; with none at all, `run`
                // reports an error.
                Err(e) => eprintln!("strata: cannot start write thread {i}: {e}"),
            }
        }
        WritePool { workers }
    }

    /// One thread per CPU.
    pub fn per_cpu() -> WritePool {
        WritePool::new(std::thread::available_parallelism().map_or(2, |n| n.get()))
    }

    /// Runs `f` on a write thread and returns its result. If the caller goes away, `f`
    /// still runs to its end (a write that started is finished and accounted for).
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let Some(w) = self
            .workers
            .iter()
            .min_by_key(|w| w.pending.load(Ordering::Acquire))
        else {
            return Err(Error::Internal("no write thread is running".into()));
        };
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = tx.send(f());
        });
        w.pending.fetch_add(1, Ordering::AcqRel);
        if w.jobs.send(job).is_err() {
            w.pending.fetch_sub(1, Ordering::AcqRel);
            return Err(Error::Internal("the write thread has stopped".into()));
        }
        rx.await
            .map_err(|_| Error::Internal("write job failed (panicked)".into()))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn jobs_run_on_the_pool_threads_and_report_their_results() {
        let pool = WritePool::new(2);
        let name = pool
            .run(|| Ok(std::thread::current().name().map(str::to_string)))
            .await
            .unwrap();
        assert!(name.unwrap().starts_with("strata-write-"));
        let err = pool
            .run(|| -> Result<()> { Err(Error::Internal("no".into())) })
            .await
            .unwrap_err();
        assert!(err.to_string().contains("no"), "{err}");
    }

    #[tokio::test]
    async fn a_panicking_job_is_an_error_and_the_threads_go_on() {
        let pool = WritePool::new(1);
        let err = pool
            .run(|| -> Result<()> { panic!("boom") })
            .await
            .unwrap_err();
        assert!(err.to_string().contains("panicked"), "{err}");
        assert_eq!(pool.run(|| Ok(7)).await.unwrap(), 7);
    }

    #[tokio::test]
    async fn many_jobs_on_few_threads_all_finish() {
        let pool = Arc::new(WritePool::new(2));
        let mut tasks = Vec::new();
        for i in 0..64u64 {
            let pool = pool.clone();
            tasks.push(tokio::spawn(
                async move { pool.run(move || Ok(i * 2)).await },
            ));
        }
        let mut sum = 0;
        for t in tasks {
            sum += t.await.unwrap().unwrap();
        }
        assert_eq!(sum, 2 * (0..64).sum::<u64>());
    }
}
