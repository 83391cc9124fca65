//! Stopping a query early: a [`Cancel`] token the caller can trip at any time (a server trips
//! it when the client goes away), and [`Stop`], the deadline plus token that every evaluation
//! loop checks, including the per-series decoding loops on worker threads.
//!
//! Invariants: tripping a token is permanent; [`Stop::check`] reports cancellation before
//! the deadline (a client that went away gets no timeout error), and both are cheap enough
//! to check once per series (one atomic load and one clock read).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crate::error::{Error, Result};

/// A shared flag that asks a running query to stop; clones share the flag.
#[derive(Clone, Debug, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    /// A token not yet tripped.
    pub fn new() -> Cancel {
        Cancel::default()
    }

    /// Asks every query holding a clone of this token to stop.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// True once [`Cancel::cancel`] was called on any clone.
    pub fn is_canceled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// A guard that trips this token when it is dropped: held by a request's future, it
    /// stops the query when the future is dropped (the client disconnected) before the
    /// query finished.
    pub fn on_drop(&self) -> CancelOnDrop {
        CancelOnDrop {
            token: self.clone(),
            armed: true,
        }
    }
}

/// Trips its [`Cancel`] token when dropped, unless disarmed; see [`Cancel::on_drop`].
#[derive(Debug)]
pub struct CancelOnDrop {
    token: Cancel,
    armed: bool,
}

impl CancelOnDrop {
    /// Keeps the token untripped on drop (the query finished normally).
    pub fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if self.armed {
            self.token.cancel();
        }
    }
}

/// When a query must stop: its deadline and its cancellation token. `Send + Sync`, so
/// worker threads check the same conditions as the evaluator's own thread.
#[derive(Clone, Debug, Default)]
pub struct Stop {
    /// Abort with [`Error::Timeout`] once this instant has passed.
    pub deadline: Option<Instant>,
    /// Abort with [`Error::Canceled`] once this token is tripped.
    pub cancel: Option<Cancel>,
}

impl Stop {
    /// Errors if the query was cancelled or its deadline passed; `phase` names the work
    /// in progress for the message.
    pub fn check(&self, phase: &'static str) -> Result<()> {
        if self.cancel.as_ref().is_some_and(Cancel::is_canceled) {
            return Err(Error::Canceled(phase));
        }
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(Error::Timeout(phase));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn cancel_and_deadline_are_reported() {
        let c = Cancel::new();
        let stop = Stop {
            deadline: None,
            cancel: Some(c.clone()),
        };
        assert!(stop.check("x").is_ok());
        {
            let guard = c.on_drop();
            guard.disarm();
        }
        assert!(stop.check("x").is_ok(), "a disarmed guard does not cancel");
        {
            let _guard = c.on_drop();
        }
        let e = stop.check("series decoding").unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::Canceled);
        assert_eq!(e.to_string(), "query was canceled in series decoding");
        let past = Stop {
            deadline: Instant::now().checked_sub(Duration::from_millis(1)),
            cancel: None,
        };
        assert_eq!(
            past.check("x").unwrap_err().kind(),
            crate::ErrorKind::Timeout
        );
    }
}
