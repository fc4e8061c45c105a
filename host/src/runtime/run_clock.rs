//! The two time limits of one guest run, each measured from where its name
//! says: the request limit from the request's arrival until the response is
//! answered in full (head and body), the background limit from then to the
//! end of the run. A short background limit thus never cuts a body short.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct RunClock {
    started: Instant,
    head_sent: AtomicBool,
    answered: OnceLock<Instant>,
    request_limit: Duration,
    background_limit: Duration,
}

impl RunClock {
    pub fn start(request_limit: Duration, background_limit: Duration) -> Self {
        RunClock {
            started: Instant::now(),
            head_sent: AtomicBool::new(false),
            answered: OnceLock::new(),
            request_limit,
            background_limit,
        }
    }

    pub fn started(&self) -> Instant {
        self.started
    }

    pub fn mark_head_sent(&self) {
        self.head_sent.store(true, Ordering::Release);
    }

    pub fn head_sent(&self) -> bool {
        self.head_sent.load(Ordering::Acquire)
    }

    /// The response's body ended (or its client went away): the request is
    /// answered and background time begins.
    pub fn mark_answered(&self) {
        let _ = self.answered.set(Instant::now());
    }

    /// The limit in force now, and when it runs out.
    pub fn deadline(&self) -> (Duration, Instant) {
        match self.answered.get() {
            Some(at) => (self.background_limit, *at + self.background_limit),
            None => (self.request_limit, self.started + self.request_limit),
        }
    }

    /// Time left under the limit in force.
    pub fn remaining(&self) -> Duration {
        self.deadline().1.saturating_duration_since(Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_background_limit_counts_from_the_end_of_the_response() {
        let clock = RunClock::start(Duration::from_secs(30), Duration::from_secs(2));
        let (limit, before) = clock.deadline();
        assert_eq!(limit, Duration::from_secs(30));
        assert_eq!(before, clock.started() + Duration::from_secs(30));
        clock.mark_head_sent();
        assert_eq!(
            clock.deadline().0,
            Duration::from_secs(30),
            "a body is still part of the request"
        );
        clock.mark_answered();
        let (limit, after) = clock.deadline();
        assert_eq!(limit, Duration::from_secs(2));
        assert!(after >= clock.started() + Duration::from_secs(2));
        assert!(
            after < before,
            "a short background limit ends the run sooner"
        );
        assert!(clock.remaining() <= Duration::from_secs(2));
    }
}
