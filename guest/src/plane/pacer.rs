//! The sync's share of a Plane key's rate limit (`PLANE_RATE_BUDGET_PERCENT`
//! of 60 requests a minute by default): the key is shared with the webhooks'
//! fetches and with other integrations, so a sync that needs more requests
//! takes longer instead of spending them all. Pure: the caller tells the
//! time and does the waiting.

use std::collections::VecDeque;
use std::time::Duration;

use chrono::{DateTime, Utc};

/// Plane's limit per key and window (CE and Cloud defaults).
pub const PLANE_LIMIT_PER_MINUTE: u32 = 60;
const WINDOW: Duration = Duration::from_secs(60);

#[derive(Debug, Clone)]
pub struct Pacer {
    limit: u32,
    percent: u8,
    /// When each request of the current window was (or will be) sent.
    sent: VecDeque<DateTime<Utc>>,
}

impl Pacer {
    pub fn new(percent: u8) -> Self {
        Pacer {
            limit: PLANE_LIMIT_PER_MINUTE,
            percent: percent.clamp(1, 100),
            sent: VecDeque::new(),
        }
    }

    /// Requests the sync may send in one window.
    pub fn budget(&self) -> usize {
        (self.limit as usize * usize::from(self.percent) / 100).max(1)
    }

    /// How long to wait before a request that would be sent at `now`; the
    /// request is counted as sent once that wait is over.
    pub fn reserve(&mut self, now: DateTime<Utc>) -> Duration {
        let window = chrono::Duration::from_std(WINDOW).unwrap_or_default();
        while self.sent.front().is_some_and(|&at| at + window <= now) {
            self.sent.pop_front();
        }
        let wait = match self.sent.front() {
            Some(&oldest) if self.sent.len() >= self.budget() => {
                (oldest + window - now).to_std().unwrap_or_default()
            }
            _ => Duration::ZERO,
        };
        let at = now + chrono::Duration::from_std(wait).unwrap_or_default();
        self.sent
            .push_back(at.max(self.sent.back().copied().unwrap_or(at)));
        if self.sent.len() > self.budget() {
            self.sent.pop_front();
        }
        wait
    }

    /// A response said how many requests the key has left in its window:
    /// the key's limit is at least one more than that (service tokens get
    /// 300 a minute).
    pub fn learn(&mut self, remaining: u32) {
        self.limit = self.limit.max(remaining.saturating_add(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sync_spends_its_share_of_a_window_and_then_waits() {
        let start = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let mut pacer = Pacer::new(50);
        assert_eq!(pacer.budget(), 30);
        let mut now = start;
        let mut waited = Duration::ZERO;
        // 90 requests as fast as they are allowed: three windows' worth.
        for _ in 0..90 {
            let wait = pacer.reserve(now);
            waited += wait;
            now += chrono::Duration::from_std(wait).unwrap();
        }
        assert_eq!(waited, Duration::from_secs(120));
        // Never more than 30 in any 60 s.
        let mut times = Vec::new();
        let mut pacer = Pacer::new(50);
        let mut now = start;
        for i in 0..100 {
            now += chrono::Duration::milliseconds(300 * (i % 3));
            now += chrono::Duration::from_std(pacer.reserve(now)).unwrap();
            times.push(now);
        }
        for (i, &at) in times.iter().enumerate() {
            let in_window = times[i..]
                .iter()
                .take_while(|&&t| t < at + chrono::Duration::seconds(60))
                .count();
            assert!(in_window <= 30, "{in_window} requests in one window");
        }
        // A key with a higher limit says so by what remains.
        pacer.learn(299);
        assert_eq!(pacer.budget(), 150);
        assert_eq!(Pacer::new(0).budget(), 1);
    }
}
