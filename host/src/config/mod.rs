//! The guest's configuration: documented keys from the process environment
//! and an env file, validated, and re-read when the file changes.

mod env_file;
pub mod guest_store;
mod keys;

pub use keys::KEYS;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use ipnet::IpNet;
use url::Url;

use crate::outbound::Allowed;

/// One invalid setting. Carries the key and the reason, never the value: the
/// value may be a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {reason}")]
pub struct InvalidSetting {
    pub key: &'static str,
    pub reason: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read env file {path}: {source}")]
    ReadFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("env file {path}, line {line}: {reason}")]
    Parse {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    #[error("invalid configuration: {}", list(.0))]
    Invalid(Vec<InvalidSetting>),
}

fn list(errors: &[InvalidSetting]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// A validated view of the configuration at one moment.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Documented keys with their values, as the guest sees them.
    pub vars: Vec<(&'static str, String)>,
    /// Origins the guest may reach: those of `PLANE_BASE_URL` and `CALDAV_URL`,
    /// worked out once per configuration rather than on every request.
    pub service_origins: Vec<Allowed>,
    /// The origin of `PLANE_BASE_URL`: outbound requests there are Plane's
    /// in the metrics, the other service origin's CalDAV's.
    pub plane_origin: Option<Allowed>,
    pub enable_sync: bool,
    pub sync_interval: Duration,
    pub log_level: String,
    /// `WEBHOOK_SOURCE_IPS`; `None` allows every address.
    pub webhook_sources: Option<Vec<IpNet>>,
}

impl Settings {
    fn get(vars: &[(&'static str, String)], key: &str) -> Option<String> {
        vars.iter()
            .find(|(k, v)| *k == key && !v.trim().is_empty())
            .map(|(_, v)| v.trim().to_string())
    }

    /// Validates every documented key, collecting every problem.
    pub fn from_vars(vars: Vec<(&'static str, String)>) -> Result<Self, ConfigError> {
        let mut errors = Vec::new();
        let mut service_origins = Vec::new();
        let mut plane_origin = None;
        for key in KEYS.iter().filter(|k| k.kind == keys::Kind::Url) {
            if let Some(value) = Self::get(&vars, key.name) {
                match parse_http_url(&value) {
                    Ok(url) => {
                        if key.reachable {
                            service_origins.extend(Allowed::from_url(&url));
                        }
                        if key.name == "PLANE_BASE_URL" {
                            plane_origin = Allowed::from_url(&url);
                        }
                    }
                    Err(reason) => errors.push(InvalidSetting {
                        key: key.name,
                        reason,
                    }),
                }
            }
        }
        let enable_sync = match Self::get(&vars, "ENABLE_SYNC") {
            None => true,
            Some(value) => parse_bool(&value).unwrap_or_else(|| {
                errors.push(InvalidSetting {
                    key: "ENABLE_SYNC",
                    reason: "expected true or false".into(),
                });
                true
            }),
        };
        let sync_interval = match Self::get(&vars, "SYNC_INTERVAL_SECONDS") {
            None => Duration::from_secs(300),
            Some(value) => match value.parse::<u64>() {
                Ok(seconds) if seconds > 0 => Duration::from_secs(seconds),
                _ => {
                    errors.push(InvalidSetting {
                        key: "SYNC_INTERVAL_SECONDS",
                        reason: "expected a whole number of seconds greater than zero".into(),
                    });
                    Duration::from_secs(300)
                }
            },
        };
        let log_level = Self::get(&vars, "LOG_LEVEL").unwrap_or_else(|| "INFO".into());
        if log_directive(&log_level).is_none() {
            errors.push(InvalidSetting {
                key: "LOG_LEVEL",
                reason: "expected one of DEBUG, INFO, WARNING, ERROR".into(),
            });
        }
        let auth = Self::get(&vars, "CALDAV_AUTH_TYPE").map(|a| a.to_ascii_lowercase());
        if auth.is_some_and(|auth| auth != "basic" && auth != "digest") {
            errors.push(InvalidSetting {
                key: "CALDAV_AUTH_TYPE",
                reason: "expected basic or digest".into(),
            });
        }
        for key in KEYS.iter().filter(|k| k.kind == keys::Kind::Count) {
            let value = Self::get(&vars, key.name);
            if value.is_some_and(|v| !matches!(v.parse::<u32>(), Ok(n) if n > 0)) {
                errors.push(InvalidSetting {
                    key: key.name,
                    reason: "expected a whole number greater than zero".into(),
                });
            }
        }
        for key in KEYS.iter().filter(|k| k.kind == keys::Kind::Percent) {
            let value = Self::get(&vars, key.name);
            if value.is_some_and(|v| !matches!(v.parse::<u8>(), Ok(n) if n <= 100)) {
                errors.push(InvalidSetting {
                    key: key.name,
                    reason: "expected a whole number from 0 to 100".into(),
                });
            }
        }
        for key in KEYS.iter().filter(|k| k.kind == keys::Kind::Share) {
            let value = Self::get(&vars, key.name);
            if value.is_some_and(|v| !matches!(v.parse::<u8>(), Ok(n) if (1..=100).contains(&n))) {
                errors.push(InvalidSetting {
                    key: key.name,
                    reason: "expected a whole number from 1 to 100".into(),
                });
            }
        }
        // SYNC_INTERVAL_SECONDS is read (and checked) above.
        for key in KEYS
            .iter()
            .filter(|k| k.kind == keys::Kind::Seconds && k.name != "SYNC_INTERVAL_SECONDS")
        {
            let value = Self::get(&vars, key.name);
            if value.is_some_and(|v| !matches!(v.parse::<u32>(), Ok(n) if n > 0)) {
                errors.push(InvalidSetting {
                    key: key.name,
                    reason: "expected a whole number of seconds greater than zero".into(),
                });
            }
        }
        let webhook_sources = Self::get(&vars, "WEBHOOK_SOURCE_IPS").and_then(|value| {
            parse_address_list(&value)
                .map_err(|reason| {
                    errors.push(InvalidSetting {
                        key: "WEBHOOK_SOURCE_IPS",
                        reason,
                    })
                })
                .ok()
        });
        if !errors.is_empty() {
            return Err(ConfigError::Invalid(errors));
        }
        Ok(Settings {
            vars,
            service_origins,
            plane_origin,
            enable_sync,
            sync_interval,
            log_level,
            webhook_sources,
        })
    }
}

/// `203.0.113.4, 198.51.100.0/24 2001:db8::/32`: a bare address is a block
/// of one. The reason names the entry's position, never its text.
pub fn parse_address_list(value: &str) -> Result<Vec<IpNet>, String> {
    value
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|entry| !entry.is_empty())
        .enumerate()
        .map(|(index, entry)| {
            entry
                .parse::<IpNet>()
                .or_else(|_| entry.parse::<std::net::IpAddr>().map(IpNet::from))
                .map(|net| net.trunc())
                .map_err(|_| {
                    format!(
                        "entry {} is not an IP address or CIDR block (e.g. 203.0.113.4 or 198.51.100.0/24)",
                        index + 1
                    )
                })
        })
        .collect()
}

fn parse_http_url(value: &str) -> Result<Url, String> {
    let url = Url::parse(value).map_err(|err| format!("not a URL ({err})"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("expected an http:// or https:// URL".into());
    }
    if url.host_str().is_none() {
        return Err("the URL has no host".into());
    }
    Ok(url)
}

fn parse_bool(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// The `tracing` directive for a `LOG_LEVEL` value (the original service's
/// names, plus `TRACE`/`WARN`).
pub fn log_directive(level: &str) -> Option<&'static str> {
    match level.to_ascii_uppercase().as_str() {
        "TRACE" => Some("trace"),
        "DEBUG" => Some("debug"),
        "INFO" => Some("info"),
        "WARNING" | "WARN" => Some("warn"),
        "ERROR" | "CRITICAL" => Some("error"),
        _ => None,
    }
}

/// Where the configuration comes from. The process environment wins over
/// the env file, as with every dotenv loader, so an explicit `KEY=… calplanebot`
/// still overrides the file.
pub struct ConfigSource {
    process: Vec<(String, String)>,
    file: Option<PathBuf>,
    current: ArcSwap<Settings>,
    state: Mutex<FileState>,
}

/// What is known of the env file since it was last read.
struct FileState {
    /// Modification time and length when last looked at.
    stamp: Option<(SystemTime, u64)>,
    /// Keys the last accepted file set.
    keys: Vec<String>,
}

/// A file whose change drops a secret is read again after this long, so a
/// file caught while being written is not taken for an edit.
const SETTLE: Duration = Duration::from_secs(1);

impl ConfigSource {
    /// Reads and validates the configuration; any problem is an error, so a
    /// bad setting stops start-up with a message naming the key. A file that
    /// is named must exist.
    pub fn load(
        process: Vec<(String, String)>,
        file: Option<PathBuf>,
    ) -> Result<Arc<Self>, ConfigError> {
        let stamp = file.as_deref().and_then(env_file::stamp);
        let (settings, keys) = match &file {
            Some(path) => {
                let read = env_file::read(path, &process)?;
                let keys = read.vars.iter().map(|(k, _)| k.clone()).collect();
                (settings_from(&process, &read.vars)?, keys)
            }
            None => (settings_from(&process, &[])?, Vec::new()),
        };
        Ok(Arc::new(ConfigSource {
            process,
            file,
            current: ArcSwap::from_pointee(settings),
            state: Mutex::new(FileState { stamp, keys }),
        }))
    }

    /// The settings in force now. If the env file changed since it was last
    /// read, it is read again first. A file that vanished, became empty,
    /// does not parse or is invalid leaves the previous settings in force;
    /// so does one that drops a secret while it may still be being written.
    pub fn current(&self) -> Arc<Settings> {
        if let Some(path) = &self.file {
            let now = env_file::stamp(path);
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            if state.stamp != now {
                self.reload(path, now, &mut state);
            }
        }
        self.current.load_full()
    }

    /// Reads the env file again whether or not it looks changed (SIGHUP).
    pub fn reread(&self) {
        if let Some(path) = &self.file {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            self.reload(path, env_file::stamp(path), &mut state);
        }
    }

    fn reload(
        &self,
        path: &std::path::Path,
        now: Option<(SystemTime, u64)>,
        state: &mut FileState,
    ) {
        let keep = |why: String| {
            tracing::error!(
                path = %path.display(),
                "configuration change ignored, previous settings kept: {why}"
            )
        };
        let Some((modified, _)) = now else {
            state.stamp = None;
            return keep(
                "the env file is gone (restore it; the service keeps its last good configuration)"
                    .into(),
            );
        };
        let read = match env_file::read(path, &self.process) {
            Ok(read) => read,
            Err(err) => {
                state.stamp = now;
                return keep(err.to_string());
            }
        };
        if read.vars.is_empty() && !state.keys.is_empty() {
            state.stamp = now;
            return keep(
                "the env file is now empty (to change settings, edit the keys in it)".into(),
            );
        }
        let dropped: Vec<&'static str> = KEYS
            .iter()
            .filter(|key| key.kind == keys::Kind::Secret)
            .filter(|key| state.keys.iter().any(|k| k == key.name))
            .filter(|key| !read.vars.iter().any(|(k, _)| k == key.name))
            .map(|key| key.name)
            .collect();
        if !dropped.is_empty() {
            if read.ends_mid_line {
                state.stamp = now;
                return keep(format!(
                    "the env file ends mid-line and no longer sets {}: it looks half-written",
                    dropped.join(", ")
                ));
            }
            let age = modified.elapsed().unwrap_or_default();
            if age < SETTLE {
                // Not recorded as seen: the next look reads it again.
                tracing::debug!(path = %path.display(), "env file drops a secret; waiting for it to settle");
                return;
            }
        }
        state.stamp = now;
        match settings_from(&self.process, &read.vars) {
            Ok(settings) => {
                for name in &dropped {
                    tracing::warn!(path = %path.display(), "{name} removed by an edit of the env file");
                }
                state.keys = read.vars.iter().map(|(k, _)| k.clone()).collect();
                tracing::info!(path = %path.display(), "configuration reloaded");
                self.current.store(Arc::new(settings));
            }
            Err(err) => keep(err.to_string()),
        }
    }
}

fn settings_from(
    process: &[(String, String)],
    from_file: &[(String, String)],
) -> Result<Settings, ConfigError> {
    let lookup = |name: &str| {
        process
            .iter()
            .find(|(k, _)| k == name)
            .or_else(|| from_file.iter().rev().find(|(k, _)| k == name))
            .map(|(_, v)| v.clone())
    };
    let vars = KEYS
        .iter()
        .filter_map(|key| lookup(key.name).map(|value| (key.name, value)))
        .collect();
    Settings::from_vars(vars)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&'static str, &str)]) -> Result<Settings, ConfigError> {
        Settings::from_vars(pairs.iter().map(|(k, v)| (*k, v.to_string())).collect())
    }

    #[test]
    fn a_percentage_is_0_to_100() {
        for ok in ["0", "50", "100"] {
            assert!(settings(&[("SYNC_MAX_DELETE_PERCENT", ok)]).is_ok(), "{ok}");
        }
        for bad in ["101", "-1", "50%", "half"] {
            assert!(
                settings(&[("SYNC_MAX_DELETE_PERCENT", bad)]).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn defaults() {
        let s = settings(&[]).unwrap();
        assert!(s.enable_sync);
        assert_eq!(s.sync_interval, Duration::from_secs(300));
        assert!(s.service_origins.is_empty());
    }

    #[test]
    fn every_problem_is_reported_with_its_key_and_never_the_value() {
        let err = settings(&[
            ("SYNC_INTERVAL_SECONDS", "five"),
            ("PLANE_BASE_URL", "not a url s3cr3t"),
            ("CALDAV_URL", "ftp://x"),
            ("ENABLE_SYNC", "maybe"),
            ("LOG_LEVEL", "LOUD"),
            ("CALDAV_AUTH_TYPE", "kerberos"),
            ("SYNC_MAX_DELETE_PERCENT", "150"),
            ("PLANE_RATE_BUDGET_PERCENT", "0"),
            ("SYNC_FULL_INTERVAL_SECONDS", "1h"),
            ("SYNC_WATERMARK_OVERLAP_SECONDS", "-1"),
        ])
        .unwrap_err();
        let message = err.to_string();
        for key in [
            "SYNC_MAX_DELETE_PERCENT",
            "PLANE_RATE_BUDGET_PERCENT",
            "SYNC_FULL_INTERVAL_SECONDS",
            "SYNC_WATERMARK_OVERLAP_SECONDS",
            "SYNC_INTERVAL_SECONDS",
            "PLANE_BASE_URL",
            "CALDAV_URL",
            "ENABLE_SYNC",
            "LOG_LEVEL",
            "CALDAV_AUTH_TYPE",
        ] {
            assert!(message.contains(key), "{key} missing from {message}");
        }
        assert!(!message.contains("s3cr3t"));
        assert!(!message.contains("five"));
    }

    #[test]
    fn service_urls_become_allowed_origins() {
        let s = settings(&[
            ("PLANE_BASE_URL", "https://plane.example.com/"),
            ("CALDAV_URL", "http://127.0.0.1:5232/user/"),
        ])
        .unwrap();
        assert_eq!(s.service_origins.len(), 2);
    }

    #[test]
    fn process_environment_wins_over_the_file_and_changes_apply() {
        let dir = std::env::temp_dir().join(format!("cpb-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(".env");
        std::fs::write(&path, "LOG_LEVEL=DEBUG\nPLANE_WORKSPACE_SLUG=from-file\n").unwrap();
        let source = ConfigSource::load(
            vec![("LOG_LEVEL".into(), "ERROR".into())],
            Some(path.clone()),
        )
        .unwrap();
        let s = source.current();
        assert_eq!(s.log_level, "ERROR");
        assert!(
            s.vars
                .contains(&("PLANE_WORKSPACE_SLUG", "from-file".into()))
        );

        std::fs::write(&path, "PLANE_WORKSPACE_SLUG=changed-and-longer\n").unwrap();
        let s = source.current();
        assert!(
            s.vars
                .contains(&("PLANE_WORKSPACE_SLUG", "changed-and-longer".into()))
        );

        std::fs::write(&path, "SYNC_INTERVAL_SECONDS=soon-ish-later\n").unwrap();
        let s = source.current();
        assert!(
            s.vars
                .contains(&("PLANE_WORKSPACE_SLUG", "changed-and-longer".into()))
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn secret(source: &ConfigSource) -> Option<String> {
        Settings::get(&source.current().vars, "PLANE_WEBHOOK_SECRET")
    }

    #[test]
    fn a_named_env_file_that_does_not_exist_stops_start_up() {
        let missing = std::env::temp_dir().join("cpb-no-such-dir/.env");
        let err = ConfigSource::load(Vec::new(), Some(missing)).err().unwrap();
        assert!(err.to_string().contains("cpb-no-such-dir"), "{err}");
    }

    #[test]
    fn a_vanished_emptied_or_half_written_file_keeps_the_secrets() {
        let dir = std::env::temp_dir().join(format!("cpb-config-keep-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(".env");
        let good = "PLANE_WEBHOOK_SECRET=s3cr3t\nCALPLANEBOT_API_TOKEN=t0ken\nLOG_LEVEL=INFO\n";
        std::fs::write(&path, good).unwrap();
        let source = ConfigSource::load(Vec::new(), Some(path.clone())).unwrap();
        assert_eq!(secret(&source).as_deref(), Some("s3cr3t"));

        std::fs::remove_file(&path).unwrap();
        assert_eq!(secret(&source).as_deref(), Some("s3cr3t"), "vanished");
        std::fs::write(&path, "").unwrap();
        assert_eq!(secret(&source).as_deref(), Some("s3cr3t"), "emptied");
        std::fs::write(&path, "# nothing but a comment\n").unwrap();
        assert_eq!(secret(&source).as_deref(), Some("s3cr3t"), "no entries");
        std::fs::write(&path, "LOG_LEVEL=DEBUG\nPLANE_WEBH").unwrap();
        assert_eq!(secret(&source).as_deref(), Some("s3cr3t"), "half-written");
        // An edit that drops the secret takes effect once the file settles.
        std::fs::write(&path, "CALPLANEBOT_API_TOKEN=t0ken\nLOG_LEVEL=DEBUG\n").unwrap();
        assert_eq!(
            secret(&source).as_deref(),
            Some("s3cr3t"),
            "not settled yet"
        );
        std::thread::sleep(SETTLE + Duration::from_millis(100));
        assert_eq!(secret(&source), None, "an explicit edit removes it");
        assert_eq!(source.current().log_level, "DEBUG");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
