//! Per-series work split across threads: a query's selection (chunk decoding) and range
//! functions run on up to [`std::thread::available_parallelism`] scoped threads when there
//! are many series and enough work to pay for spawning threads.
//!
//! Invariants: the input is cut into contiguous parts, part `0` runs on the calling thread,
//! and results are concatenated in part order, so the output order is the sequential order.
//! The error returned is the first in input order (each part stops at its own first error,
//! and parts are inspected in order), as a sequential loop would return. A panic in a part
//! is resumed on the calling thread.

use std::sync::OnceLock;
use std::thread;

/// Work units (samples decoded or visited) below which everything stays on one thread:
/// about 0.1 ms of work, several times the cost of spawning a thread.
pub const MIN_PARALLEL_WORK: usize = 32_768;

/// Series below which everything stays on one thread. On a machine whose other cores are
/// busy a second thread does not pay for itself (measured: 5-10% slower for ~500 series),
/// so only selections of many series are split.
pub const MIN_PARALLEL_SERIES: usize = 1_000;

/// Available parallelism, asked once per process (the call reads cgroup files on Linux).
fn cpus() -> usize {
    static CPUS: OnceLock<usize> = OnceLock::new();
    *CPUS.get_or_init(|| thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Number of parts (threads) [`map_parts`] cuts `len` items carrying `work` units of work
/// into.
pub fn parts_for(len: usize, work: usize) -> usize {
    parts(len, work)
}

/// Number of parts to cut `len` items carrying `work` units of work into.
fn parts(len: usize, work: usize) -> usize {
    if work < MIN_PARALLEL_WORK || len < MIN_PARALLEL_SERIES {
        return 1;
    }
    cpus()
        .min(8)
        .min(len)
        .min(work / (MIN_PARALLEL_WORK / 2))
        .max(1)
}

/// Applies `f` to contiguous parts of `items` (on several threads if `work` is large) and
/// concatenates the results in order.
pub fn map_parts<T, R, E>(
    items: Vec<T>,
    work: usize,
    f: impl Fn(Vec<T>) -> Result<Vec<R>, E> + Sync,
) -> Result<Vec<R>, E>
where
    T: Send,
    R: Send,
    E: Send,
{
    let n = parts(items.len(), work);
    if n <= 1 {
        return f(items);
    }
    let size = items.len().div_ceil(n);
    let mut chunks: Vec<Vec<T>> = Vec::with_capacity(n);
    let mut rest = items;
    while rest.len() > size {
        let tail = rest.split_off(size);
        chunks.push(rest);
        rest = tail;
    }
    chunks.push(rest);
    let f = &f;
    let results: Vec<Result<Vec<R>, E>> = thread::scope(|sc| {
        let mut it = chunks.into_iter();
        let first = it.next().unwrap_or_default();
        let handles: Vec<_> = it.map(|p| sc.spawn(move || f(p))).collect();
        let mut res = Vec::with_capacity(handles.len() + 1);
        res.push(f(first));
        for h in handles {
            res.push(h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
        }
        res
    });
    let mut out = Vec::new();
    for r in results {
        let mut r = r?;
        if out.is_empty() {
            out = r;
        } else {
            out.append(&mut r);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_order_and_first_error() {
        let items: Vec<u32> = (0..10_000).collect();
        let got: Result<Vec<u32>, String> = map_parts(items.clone(), 1 << 20, |p| {
            Ok(p.iter().map(|x| x * 2).collect())
        });
        assert_eq!(
            got.unwrap(),
            items.iter().map(|x| x * 2).collect::<Vec<_>>()
        );
        let got: Result<Vec<u32>, String> = map_parts(items.clone(), 1 << 20, |p| {
            for &x in &p {
                if x == 7_000 || x == 9_999 {
                    return Err(format!("bad {x}"));
                }
            }
            Ok(p)
        });
        assert_eq!(got.unwrap_err(), "bad 7000");
        // Below the threshold: one part on the calling thread.
        let got: Result<Vec<usize>, String> = map_parts(items, 10, |p| Ok(vec![p.len()]));
        assert_eq!(got.unwrap(), vec![10_000]);
    }
}
