//! Timestamps as the API shows them.

use chrono::{DateTime, SecondsFormat, Utc};

/// RFC 3339 in UTC with a `Z` and whole seconds, e.g. `2025-12-27T10:30:00Z`.
pub fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The current time, from the platform's wall clock (`wasi:clocks` in a guest).
pub fn now() -> DateTime<Utc> {
    DateTime::<Utc>::from(std::time::SystemTime::now())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn formats_utc_with_z_and_whole_seconds() {
        let at = Utc.with_ymd_and_hms(2025, 12, 27, 10, 30, 0).unwrap();
        assert_eq!(rfc3339(at), "2025-12-27T10:30:00Z");
    }
}
