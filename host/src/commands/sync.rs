//! `calplanebot sync`: one full sync in the foreground, its progress shown
//! as a bar on a terminal and as plain lines otherwise, from the same
//! `/webhooks/status` `progress` object any client sees.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::local;
use crate::runtime::Runtime;

const POLL_EVERY: Duration = Duration::from_millis(500);
/// How long the sync may look stopped before the command gives up on it.
const GIVE_UP_AFTER: Duration = Duration::from_secs(10);
/// Plain progress lines come at most this often.
const LINE_EVERY: Duration = Duration::from_secs(5);

/// How the sync ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Success,
    /// Partial or failed: the sync's own words are printed.
    NotClean,
}

pub async fn run(runtime: &Runtime) -> anyhow::Result<Outcome> {
    let answer = local::call(runtime, "POST", "/webhooks/sync?source=command").await?;
    let body = answer.json()?;
    match answer.status {
        200 => {}
        409 => anyhow::bail!(
            "a sync is already running{}; wait for it to finish (GET /webhooks/status shows its progress)",
            body["details"]["sync_id"]
                .as_str()
                .map(|id| format!(" ({id})"))
                .unwrap_or_default()
        ),
        status => anyhow::bail!(
            "the sync did not start (HTTP {status}): {}",
            body["message"].as_str().unwrap_or("no message")
        ),
    }
    let sync_id = body["sync_id"].as_str().unwrap_or("").to_string();
    let terminal = std::io::stderr().is_terminal();
    let mut shown = Shown::default();
    let mut idle_since: Option<Instant> = None;
    let last = loop {
        tokio::time::sleep(POLL_EVERY).await;
        let answer = local::call(runtime, "GET", "/webhooks/status").await?;
        // A busy instance or a store blip says nothing about the sync.
        if answer.status != 200 {
            continue;
        }
        let status = answer.json()?;
        if status["last_sync"]["sync_id"].as_str() == Some(sync_id.as_str()) {
            break status["last_sync"].clone();
        }
        // The lease gone and no report: the guest was stopped (a limit).
        if status["status"] == "running" {
            idle_since = None;
        } else if idle_since.get_or_insert_with(Instant::now).elapsed() > GIVE_UP_AFTER {
            anyhow::bail!("the sync stopped without a report; the log above says why");
        }
        if let Some(line) = progress_line(&status["progress"]) {
            shown.show(&line, terminal);
        }
    };
    if terminal && shown.any {
        eprintln!();
    }
    // The instance that ran the sync finishes its bookkeeping.
    runtime.tasks.close();
    runtime.tasks.wait().await;
    let outcome = last["status"].as_str().unwrap_or("failed");
    println!(
        "Sync {outcome} in {:.1} s: {} events processed",
        last["duration_seconds"].as_f64().unwrap_or(0.0),
        last["events_processed"].as_u64().unwrap_or(0)
    );
    for error in last["errors"].as_array().into_iter().flatten() {
        println!("  {}", error.as_str().unwrap_or(""));
    }
    Ok(if outcome == "success" {
        Outcome::Success
    } else {
        Outcome::NotClean
    })
}

#[derive(Default)]
struct Shown {
    last: String,
    at: Option<Instant>,
    any: bool,
}

impl Shown {
    fn show(&mut self, line: &str, terminal: bool) {
        if line == self.last {
            return;
        }
        if terminal {
            // One line, redrawn: carriage return, the line, erase to its end.
            eprint!("\r{line}\x1b[K");
            let _ = std::io::stderr().flush();
        } else if self.at.is_none_or(|at| at.elapsed() >= LINE_EVERY) {
            eprintln!("{line}");
            self.at = Some(Instant::now());
        } else {
            return;
        }
        self.last = line.to_string();
        self.any = true;
    }
}

/// `[#####-----] projects 2/5 · items 340/1200 · 12 writes`, and the wait
/// on Plane's rate limit while there is one.
fn progress_line(progress: &Value) -> Option<String> {
    let number = |key: &str| progress[key].as_u64().unwrap_or(0);
    progress.as_object()?;
    let (projects, projects_total) = (number("projects_done"), number("projects_total"));
    let (items, items_total) = (number("items_done"), number("items_total"));
    const WIDTH: u64 = 20;
    let filled = (projects * WIDTH).checked_div(projects_total).unwrap_or(0);
    let mut line = format!(
        "[{}{}] {} · projects {projects}/{projects_total} · items {items}/{items_total} · {} writes",
        "#".repeat(filled as usize),
        "-".repeat((WIDTH - filled.min(WIDTH)) as usize),
        progress["phase"].as_str().unwrap_or("?"),
        number("writes"),
    );
    if let Some(until) = progress["waiting_on_plane_until"].as_str() {
        line.push_str(&format!(" · waiting on Plane's rate limit until {until}"));
    }
    Some(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_progress_line_shows_counts_and_the_wait() {
        let progress = serde_json::json!({
            "phase": "projects", "projects_done": 1, "projects_total": 4,
            "items_done": 250, "items_total": 1000, "writes": 12,
            "waiting_on_plane_until": "2026-12-03T12:00:05Z",
        });
        assert_eq!(
            progress_line(&progress).unwrap(),
            "[#####---------------] projects · projects 1/4 · items 250/1000 · 12 writes · waiting on Plane's rate limit until 2026-12-03T12:00:05Z"
        );
        assert!(progress_line(&Value::Null).is_none());
    }
}
