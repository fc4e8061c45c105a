//! The two time limits of one guest run, each measured from where its name
//! says: the request limit from the request's arrival to the response head,
//! the background limit from the response head to the end of the run.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct RunClock {
    started: Instant,
    responded: OnceLock<Instant>,
    request_limit: Duration,
    background_limit: Duration,
}

impl RunClock {
    pub fn start(request_limit: Duration, background_limit: Duration) -> Self {
        RunClock {
            started: Instant::now(),
            responded: OnceLock::new(),
            request_limit,
            background_limit,
        }
    }

    pub fn started(&self) -> Instant {
        self.started
    }

    pub fn mark_responded(&self) {
        let _ = self.responded.set(Instant::now());
    }

    pub fn has_responded(&self) -> bool {
        self.responded.get().is_some()
    }

    /// The limit in force now, and when it runs out.
    pub fn deadline(&self) -> (Duration, Instant) {
        match self.responded.get() {
            Some(at) => (self.background_limit, *at + self.background_limit),
            None => (self.request_limit, self.started + self.request_limit),
        }
    }

    /// Time left under the limit in force.
    pub fn remaining(&self) -> Duration {
        self.deadline()
            .1
            .saturating_duration_since(Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_background_limit_counts_from_the_response() {
        let clock = RunClock::start(Duration::from_secs(30), Duration::from_secs(2));
        let (limit, before) = clock.deadline();
        assert_eq!(limit, Duration::from_secs(30));
        assert_eq!(before, clock.started() + Duration::from_secs(30));
        clock.mark_responded();
        let (limit, after) = clock.deadline();
        assert_eq!(limit, Duration::from_secs(2));
        assert!(after >= clock.started() + Duration::from_secs(2));
        assert!(after < before, "a short background limit ends the run sooner");
        assert!(clock.remaining() <= Duration::from_secs(2));
    }
}
