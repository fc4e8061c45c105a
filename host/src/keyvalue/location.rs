//! Where `--store` keeps the guest's data: a file for the embedded store, or
//! a Redis (or Valkey) URL shared by replicas.

use std::path::PathBuf;

/// The schemes `--store` understands, as an operator would write them.
pub const KNOWN_SCHEMES: &str = "redis://, rediss:// (TLS), or a file path";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    File(PathBuf),
    /// A `redis://` or `rediss://` URL, possibly with a password in it.
    Redis(url::Url),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LocationError {
    #[error("--store {shown:?}: unknown scheme {scheme:?}; use {KNOWN_SCHEMES}")]
    UnknownScheme { shown: String, scheme: String },
    #[error("--store {shown:?} is not a valid URL: {reason}")]
    BadUrl { shown: String, reason: String },
    #[error("--store {shown:?}: the database must be a number, as in redis://host:6379/0")]
    BadDatabase { shown: String },
    #[error("--store {shown:?}: a Redis URL needs a host, as in redis://host:6379/0")]
    NoHost { shown: String },
}

impl StoreLocation {
    /// Anything with `scheme://` is a URL and must be one this host knows,
    /// so a typo never becomes a folder named `redis:` beside the process.
    pub fn parse(value: &str) -> Result<Self, LocationError> {
        let Some((scheme, _)) = value.split_once("://") else {
            // `redis:/host` or `redis:host` is a URL mistyped, not a path.
            let mistyped = value.split_once(':').is_some_and(|(scheme, _)| {
                matches!(scheme.to_ascii_lowercase().as_str(), "redis" | "rediss")
            });
            if mistyped {
                return Err(LocationError::BadUrl {
                    shown: redact(value),
                    reason: "a Redis URL starts with redis:// or rediss://".into(),
                });
            }
            return Ok(StoreLocation::File(PathBuf::from(value)));
        };
        let shown = redact(value);
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "redis" && scheme != "rediss" {
            return Err(LocationError::UnknownScheme { shown, scheme });
        }
        let url = url::Url::parse(value).map_err(|err| LocationError::BadUrl {
            shown: shown.clone(),
            reason: err.to_string(),
        })?;
        if url.host_str().is_none_or(str::is_empty) {
            return Err(LocationError::NoHost { shown });
        }
        let database = url.path().trim_start_matches('/');
        if !database.is_empty() && database.parse::<u16>().is_err() {
            return Err(LocationError::BadDatabase { shown });
        }
        Ok(StoreLocation::Redis(url))
    }

    /// The location as it may be logged: never a password.
    pub fn display(&self) -> String {
        match self {
            StoreLocation::File(path) => path.display().to_string(),
            StoreLocation::Redis(url) => redact(url.as_str()),
        }
    }
}

/// `scheme://user:secret@host/…` → `scheme://user:<password>@host/…`; the
/// value may not parse as a URL, so this works on the text. The userinfo
/// ends at the last `@` (a password typed raw may hold `/`, `?` or `#`);
/// a value with `@` but no `://` is hidden whole.
fn redact(value: &str) -> String {
    let Some((scheme, rest)) = value.split_once("://") else {
        return if value.contains('@') {
            "<a value with credentials>".to_string()
        } else {
            value.to_string()
        };
    };
    match rest.rsplit_once('@') {
        Some((userinfo, host)) => {
            let userinfo = match userinfo.split_once(':') {
                Some((user, _)) => format!("{user}:<password>"),
                None => "<credentials>".to_string(),
            };
            format!("{scheme}://{userinfo}@{host}")
        }
        None => value.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_is_a_file_and_a_redis_url_is_redis() {
        assert_eq!(
            StoreLocation::parse("data/calplanebot.redb"),
            Ok(StoreLocation::File("data/calplanebot.redb".into()))
        );
        assert!(matches!(
            StoreLocation::parse("redis://127.0.0.1:6379/0"),
            Ok(StoreLocation::Redis(_))
        ));
        assert!(matches!(
            StoreLocation::parse("rediss://cache.example:6380"),
            Ok(StoreLocation::Redis(_))
        ));
    }

    #[test]
    fn an_unknown_scheme_names_the_known_ones() {
        let err = StoreLocation::parse("redsi://127.0.0.1:6379/0").unwrap_err();
        let message = err.to_string();
        assert!(message.contains("\"redsi\""), "{message}");
        assert!(
            message.contains("redis://") && message.contains("rediss://"),
            "{message}"
        );
        assert!(matches!(
            StoreLocation::parse("postgres://db/x"),
            Err(LocationError::UnknownScheme { .. })
        ));
    }

    #[test]
    fn bad_redis_urls_say_what_is_wrong_without_the_password() {
        let err = StoreLocation::parse("redis://:hunter2@127.0.0.1:6379/zero").unwrap_err();
        assert!(matches!(err, LocationError::BadDatabase { .. }));
        assert!(!err.to_string().contains("hunter2"), "{err}");
        let err = StoreLocation::parse("ftp://u:hunter2@h/").unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
        assert!(matches!(
            StoreLocation::parse("redis:///0"),
            Err(LocationError::NoHost { .. }) | Err(LocationError::BadUrl { .. })
        ));
    }

    #[test]
    fn a_password_is_never_displayed() {
        let location = StoreLocation::parse("redis://app:hunter2@cache:6379/1").unwrap();
        assert_eq!(location.display(), "redis://app:<password>@cache:6379/1");
        let location = StoreLocation::parse("redis://:hunter2@cache:6379").unwrap();
        assert!(!location.display().contains("hunter2"));
        let location = StoreLocation::parse("redis://cache:6379/2").unwrap();
        assert_eq!(location.display(), "redis://cache:6379/2");
    }

    /// Invariant: whatever the value, no error names a password: not one
    /// with `/`, `?` or `#` typed raw, not a mistyped scheme.
    #[test]
    fn no_error_shows_a_password_however_it_is_typed() {
        for value in [
            "redis://:ab/cd@cache/zero",
            "redis://u:p?w#d@cache:6379/x",
            "redis://:hunter2@/0",
            "redsi://:hunter2@cache:6379/0",
            "redis:/:hunter2@cache:6379/0",
            "rediss::hunter2@cache",
        ] {
            let err = StoreLocation::parse(value).expect_err(value).to_string();
            for secret in ["hunter2", "ab/cd", "p?w#d"] {
                assert!(!err.contains(secret), "{value}: {err}");
            }
        }
    }

    #[test]
    fn a_mistyped_redis_url_is_not_taken_for_a_path() {
        for value in ["redis:/cache:6379/0", "REDIS:cache:6379", "rediss:cache"] {
            assert!(
                matches!(
                    StoreLocation::parse(value),
                    Err(LocationError::BadUrl { .. })
                ),
                "{value}"
            );
        }
        assert!(matches!(
            StoreLocation::parse("data/redis:backup.redb"),
            Ok(StoreLocation::File(_))
        ));
    }
}
