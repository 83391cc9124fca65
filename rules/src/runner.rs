//! Running a group on its schedule: one thread per group, a clock, and a stop signal.
//!
//! [`run`] waits for the group's first slot after it starts, evaluates, then sleeps until the
//! next slot; when an evaluation overran, the slots it covered are counted as missed (and as
//! scheduled iterations) and the next evaluation is the latest passed slot (see
//! [`crate::schedule::Slots::next`]). The [`Clock`] is a trait so tests can drive the loop
//! with a simulated clock; [`SystemClock`] sleeps on the stop signal's condition variable, so
//! stopping never waits for a sleep to end. A group loaded at startup restores its alerts'
//! `for` state after its second iteration. A stop is seen between rules and between
//! iterations; an evaluation in progress finishes its current rule.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::{Condvar, Mutex};

use crate::group::{EvalContext, Group};

/// A stop signal many threads can wait on.
#[derive(Default)]
pub struct Stop {
    stopped: Mutex<bool>,
    cv: Condvar,
}

impl Stop {
    /// Sets the signal and wakes every waiter.
    pub fn stop(&self) {
        *self.stopped.lock() = true;
        self.cv.notify_all();
    }

    /// True once stopped.
    pub fn is_stopped(&self) -> bool {
        *self.stopped.lock()
    }

    /// Waits up to `d`; returns true if stopped (now or while waiting).
    pub fn wait(&self, d: Duration) -> bool {
        let mut s = self.stopped.lock();
        if !*s {
            let _ = self.cv.wait_for(&mut s, d);
        }
        *s
    }
}

/// Where the runner gets the time and how it sleeps.
pub trait Clock: Send + Sync {
    /// Nanoseconds since the Unix epoch.
    fn now_ns(&self) -> i64;
    /// Sleeps until `deadline_ns` (returns at once if it has passed); false if `stop` was
    /// signalled instead.
    fn sleep_until(&self, deadline_ns: i64, stop: &Stop) -> bool;
}

/// The wall clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ns(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as i64)
            .unwrap_or(0)
    }

    fn sleep_until(&self, deadline_ns: i64, stop: &Stop) -> bool {
        loop {
            let now = self.now_ns();
            if now >= deadline_ns {
                return !stop.is_stopped();
            }
            if stop.wait(Duration::from_nanos((deadline_ns - now) as u64)) {
                return false;
            }
        }
    }
}

/// Runs `group` on its slots until `stop`; returns it with its state (for a reload to carry
/// over, or to mark its series stale).
pub fn run(mut group: Group, ctx: &EvalContext, clock: &dyn Clock, stop: &Stop) -> Group {
    let slots = group.def().slots();
    let mut slot = slots.first_after(clock.now_ns());
    if !clock.sleep_until(slot, stop) {
        return group;
    }
    let mut iterations = 0u64;
    loop {
        group.iterate(ctx, slot, &|| stop.is_stopped());
        iterations += 1;
        // As Prometheus: restore `for` state after the second evaluation, when recording
        // rules have caught up.
        if iterations == 2 && group.needs_restore() {
            group.restore(ctx, clock.now_ns().div_euclid(1_000_000));
        }
        if !clock.sleep_until(slot + slots.interval_ns, stop) {
            return group;
        }
        let (missed, next) = slots.next(slot, clock.now_ns());
        if missed > 0 {
            let m = group.metrics();
            m.iterations_missed_total
                .fetch_add(missed, Ordering::Relaxed);
            m.iterations_total.fetch_add(missed, Ordering::Relaxed);
        }
        slot = next;
    }
}

/// A running group: its thread and stop signal.
pub struct Running {
    /// Stops the loop.
    pub stop: Arc<Stop>,
    /// Joins to the group.
    pub thread: std::thread::JoinHandle<Group>,
}

/// Starts `group` on a thread of its own.
pub fn spawn(
    group: Group,
    ctx: Arc<EvalContext>,
    clock: Arc<dyn Clock>,
) -> std::io::Result<Running> {
    let stop = Arc::new(Stop::default());
    let s = stop.clone();
    let name = format!("rules:{}", group.def().name);
    let thread = std::thread::Builder::new()
        .name(name.chars().take(15).collect())
        .spawn(move || run(group, &ctx, &*clock, &s))?;
    Ok(Running { stop, thread })
}
