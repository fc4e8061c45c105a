//! `calplanebot doctor`: the configuration checked against the real Plane
//! and CalDAV server, with the clients the sync uses, one finding per line
//! and, for each failure, what to change. Secrets are never in a finding.

mod caldav_checks;
mod clock;
mod plane_checks;

use serde::Serialize;

use crate::config::Config;
use crate::net::Http;

/// One check's finding.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub ok: bool,
    /// What was found, in plain words.
    pub found: String,
    /// On a failure: what to change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Check {
    fn pass(name: &'static str, found: impl Into<String>) -> Self {
        Check {
            name,
            ok: true,
            found: found.into(),
            fix: None,
        }
    }

    fn fail(name: &'static str, found: impl Into<String>, fix: impl Into<String>) -> Self {
        Check {
            name,
            ok: false,
            found: found.into(),
            fix: Some(fix.into()),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub ok: bool,
    pub checks: Vec<Check>,
}

#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Create and delete a test event (`--no-write` turns it off).
    pub write_test: bool,
}

/// Runs every check in order; a check that the ones before it make
/// meaningless (a CalDAV listing without credentials) is not run.
pub fn run(config: &Config, http: &dyn Http, options: Options) -> Report {
    let mut checks = Vec::new();
    let sync = match config.sync().and_then(|sync| {
        config.webhook_sources()?;
        Ok(sync)
    }) {
        Ok(sync) => {
            checks.push(Check::pass(
                "configuration",
                "every required key is set and valid",
            ));
            Some(sync)
        }
        Err(problem) => {
            checks.push(Check::fail(
                "configuration",
                problem,
                "set the keys named (`calplanebot config` lists them all), in the environment or the env file",
            ));
            None
        }
    };
    if let Some(sync) = sync {
        let watched = clock::DateWatch::new(http, &sync.plane.base_url);
        let projects = plane_checks::run(&watched, &sync, &mut checks);
        checks.push(plane_checks::web_url(config, &sync));
        caldav_checks::run(&watched, &sync, projects.as_deref(), options, &mut checks);
        checks.push(webhook_secret(config));
        checks.push(watched.verdict());
    } else {
        checks.push(webhook_secret(config));
    }
    Report {
        ok: checks.iter().all(|c| c.ok),
        checks,
    }
}

/// A URL as shown in a finding: without a `user:password@` part.
fn without_credentials(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let authority_end = rest.find('/').unwrap_or(rest.len());
            match rest[..authority_end].rfind('@') {
                Some(at) => format!("{scheme}://{}", &rest[at + 1..]),
                None => url.to_string(),
            }
        }
        None => url.to_string(),
    }
}

fn webhook_secret(config: &Config) -> Check {
    if config.webhook_secrets().is_empty() {
        Check::fail(
            "webhook secret",
            "PLANE_WEBHOOK_SECRET is not set: webhooks are accepted unsigned, from anyone who can reach /webhooks/plane",
            "set PLANE_WEBHOOK_SECRET to the secret Plane shows for the webhook (Workspace settings → Webhooks)",
        )
    } else {
        Check::pass(
            "webhook secret",
            "PLANE_WEBHOOK_SECRET is set: unsigned webhooks are refused",
        )
    }
}

#[cfg(test)]
mod tests;
