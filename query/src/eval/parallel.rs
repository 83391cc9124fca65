//! Per-series work split across threads: a query's selection (chunk decoding) and range
//! functions run on up to [`std::thread::available_parallelism`] scoped threads when there
//! are many series and enough work to pay for spawning threads.
//!
//! Invariants: the input is cut into contiguous parts, part `0` runs on the calling thread,
//! and results are concatenated in part order, so the output order is the sequential order.
//! The error returned is the first in input order (each part stops at its own first error,
//! and parts are inspected in order), as a sequential loop would return. A panic in a part
//! is resumed on the calling thread.

use std::thread;
use strata_engine::querier::cpus;

/// Work units (samples decoded or visited) below which everything stays on one thread:
/// about 0.1 ms of work, several times the cost of spawning a thread.
pub const MIN_PARALLEL_WORK: usize = 32_768;

/// Series below which everything stays on one thread unless the work is large. On a
/// machine whose other cores are busy a second thread does not pay for itself (measured:
/// 5-10% slower for ~500 series of little work each), so only selections of many series,
/// or of fewer series with much work each, are split.
pub const MIN_PARALLEL_SERIES: usize = 1_000;

/// Work above which [`MIN_PARALLEL_SERIES`] does not apply (a millisecond or more on one
/// thread, where a second thread costs tens of microseconds), as long as every part gets
/// [`MIN_SERIES_PER_PART`] series. The work is what the series function estimates it
/// decodes or visits, not the samples of the chunks it reads from summaries.
pub const LARGE_WORK: usize = 8 * MIN_PARALLEL_WORK;

/// Fewest series of a part when the work is large.
pub const MIN_SERIES_PER_PART: usize = 64;

/// Number of parts (threads) [`map_parts`] cuts `len` items carrying `work` units of work
/// into.
pub fn parts_for(len: usize, work: usize) -> usize {
    parts(len, work)
}

/// Number of parts to cut `len` items carrying `work` units of work into.
fn parts(len: usize, work: usize) -> usize {
    let by_len = if len >= MIN_PARALLEL_SERIES {
        len
    } else if work >= LARGE_WORK {
        len / MIN_SERIES_PER_PART
    } else {
        1
    };
    if work < MIN_PARALLEL_WORK || by_len < 2 {
        return 1;
    }
    cpus()
        .min(8)
        .min(by_len)
        .min(work / (MIN_PARALLEL_WORK / 2))
        .max(1)
}

/// Applies `f` to contiguous parts of `items` (on several threads if `work` is large) and
/// concatenates the results in order. The items stay owned by the caller, so whatever they
/// hold is freed on the calling thread afterwards: a worker freeing memory the calling
/// thread allocated contends with it on the allocator's lock (measured: futex wake-ups
/// from `free` were most of the cost of a second thread).
pub fn map_parts<T, R, E>(
    items: &mut [T],
    work: usize,
    f: impl Fn(&mut [T]) -> Result<Vec<R>, E> + Sync,
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
    let f = &f;
    let results: Vec<Result<Vec<R>, E>> = thread::scope(|sc| {
        let mut it = items.chunks_mut(size);
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
        let got: Result<Vec<u32>, String> = map_parts(&mut items.clone(), 1 << 20, |p| {
            Ok(p.iter().map(|x| x * 2).collect())
        });
        assert_eq!(
            got.unwrap(),
            items.iter().map(|x| x * 2).collect::<Vec<_>>()
        );
        let got: Result<Vec<u32>, String> = map_parts(&mut items.clone(), 1 << 20, |p| {
            for x in p.iter() {
                if *x == 7_000 || *x == 9_999 {
                    return Err(format!("bad {x}"));
                }
            }
            Ok(p.to_vec())
        });
        assert_eq!(got.unwrap_err(), "bad 7000");
        // Below the threshold: one part on the calling thread.
        let got: Result<Vec<usize>, String> =
            map_parts(&mut items.clone(), 10, |p| Ok(vec![p.len()]));
        assert_eq!(got.unwrap(), vec![10_000]);
    }

    #[test]
    fn few_series_are_split_only_when_the_work_is_large() {
        let cpus = cpus();
        // Below the work threshold, or too few series for two parts of 64: one part.
        assert_eq!(parts(500, LARGE_WORK - 1), 1);
        assert_eq!(parts(127, 100 * LARGE_WORK), 1);
        assert_eq!(parts(5_000, MIN_PARALLEL_WORK - 1), 1);
        // Large work: as many parts as cores allow, at least 64 series each.
        assert_eq!(parts(128, LARGE_WORK), cpus.min(2));
        assert_eq!(parts(500, 100 * LARGE_WORK), cpus.min(8).min(7));
        // Many series: split once the work passes the (smaller) general threshold.
        assert_eq!(parts(2_000, MIN_PARALLEL_WORK), cpus.min(2));
    }
}
