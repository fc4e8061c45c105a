//! Versions of a work item: Plane's `updated_at`. Every event carries the
//! version it was rendered from, so that no writer (a sync, a webhook, a
//! queue drain) replaces a newer state of an item with an older one.

use chrono::{DateTime, SecondsFormat, Utc};

/// Plane's `updated_at`: ISO 8601 with an offset that may be `+05:30` as
/// well as `Z`, and microseconds.
pub fn parse(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text.trim())
        .ok()
        .map(|at| at.with_timezone(&Utc))
}

/// UTC with microseconds, Plane's precision, so it reads back exactly.
pub fn format(version: DateTime<Utc>) -> String {
    version.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Whether `incoming` is known to be older than `current`. An unknown
/// version on either side orders nothing: it neither wins nor loses. Equal
/// versions are not older: the same version can render differently when a
/// state or label was renamed, which does not touch the item.
pub fn is_older(incoming: Option<DateTime<Utc>>, current: Option<DateTime<Utc>>) -> bool {
    matches!((incoming, current), (Some(incoming), Some(current)) if incoming < current)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_normalised_and_microseconds_kept() {
        let a = parse("2026-01-01T05:30:00.000001+05:30").unwrap();
        let b = parse("2026-01-01T00:00:00.000001Z").unwrap();
        assert_eq!(a, b);
        assert_eq!(format(a), "2026-01-01T00:00:00.000001Z");
        assert_eq!(parse(&format(a)), Some(a));
        assert_eq!(parse("yesterday"), None);
    }

    #[test]
    fn only_a_known_older_version_is_older() {
        let old = parse("2026-01-01T00:00:00Z");
        let new = parse("2026-01-01T00:00:00.5Z");
        assert!(is_older(old, new));
        assert!(!is_older(new, old));
        assert!(!is_older(new, new));
        assert!(!is_older(None, new));
        assert!(!is_older(old, None));
    }
}
