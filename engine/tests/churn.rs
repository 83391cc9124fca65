//! Churn: a million series created over time, at most 10k active at once (every "rollout"
//! replaces all pods). After each head truncation the head, its index and the symbol table
//! hold only the active generations, and the process's heap stays flat while the blocks
//! on disk grow. Its own test binary, so that no other test shares the process's memory.

use strata_engine::{Batch, Db, Labels, Matcher, Options, Sample};

const GENERATIONS: usize = 100;
const ACTIVE: usize = 10_000;
/// One generation lives two hours of data time (one block range), four scrapes.
const SCRAPES: i64 = 4;
const STEP: i64 = 30 * 60 * 1000;

/// Resident anonymous memory (heap) of this process, in KiB. File-backed pages of mapped
/// blocks are left out: they are the page cache's to reclaim, not the process's memory.
fn rss_anon_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("RssAnon:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("RssAnon in /proc/self/status")
}

#[test]
fn a_million_churned_series_keep_memory_flat() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(
        dir.path(),
        // Default retention (15 d): blocks are compacted up to 24 h.
        Options {
            background: false,
            ..Options::default()
        },
    )
    .unwrap();
    let mut t = 0i64;
    let mut rss = Vec::new();
    let mut max_series = 0;
    for g in 0..GENERATIONS {
        let names: Vec<Labels> = (0..ACTIVE)
            .map(|p| {
                Labels::from_pairs(&[
                    ("__name__", "container_cpu_usage_seconds_total"),
                    ("job", "kubelet"),
                    ("namespace", "shop"),
                    ("pod", &format!("checkout-{g:03}-{p:05}")),
                ])
                .unwrap()
            })
            .collect();
        for k in 0..SCRAPES {
            let mut b = Batch::with_capacity(ACTIVE, ACTIVE);
            for (p, l) in names.iter().enumerate() {
                b.push(l.clone(), vec![Sample::new(t, (k + p as i64) as f64)]);
            }
            let r = db.append(&b).unwrap();
            assert_eq!(r.rejected(), 0);
            t += STEP;
        }
        drop(names);
        db.maintain().unwrap();
        let st = db.stats();
        max_series = max_series.max(st.series);
        assert!(
            st.series <= 2 * ACTIVE as u64,
            "generation {g}: {} series in the head",
            st.series
        );
        assert!(
            st.symbols <= 2 * ACTIVE as u64 + 100,
            "generation {g}: {} symbols",
            st.symbols
        );
        if g % 10 == 9 {
            rss.push(rss_anon_kib());
        }
    }
    eprintln!("heap (RssAnon KiB) after every 10 generations: {rss:?}");
    // Memory after 100 generations is that after 20, not five times it.
    let (early, late) = (rss[1], *rss.last().unwrap());
    assert!(
        late <= early + early / 4 + 16 * 1024,
        "heap grew from {early} KiB (200k series seen) to {late} KiB (1M series seen): {rss:?}"
    );
    assert!(max_series >= ACTIVE as u64);
    // Every series ever seen is still readable from the blocks.
    let names = db.label_values("pod", &[], i64::MIN, i64::MAX).unwrap();
    assert_eq!(names.len(), GENERATIONS * ACTIVE);
    let one = db
        .querier(i64::MIN, i64::MAX)
        .select(&[Matcher::equal("pod", "checkout-007-00042")])
        .unwrap();
    assert_eq!(one[0].samples().len(), SCRAPES as usize);
}
