//! Debian's headless Chromium, for the status page's browser test.

use std::path::PathBuf;
use std::process::Command;

/// The browser, when installed. Under CI (`CI` set) a missing browser is a
/// failure: `.ci/run` installs it.
pub fn binary() -> Option<PathBuf> {
    let found = ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|name| {
            let path = std::env::var_os("PATH")?;
            std::env::split_paths(&path)
                .map(|dir| dir.join(name))
                .find(|candidate| candidate.is_file())
        });
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "chromium is not installed: `apt-get install chromium` (.ci/run does)"
        );
        eprintln!("SKIPPED: chromium is not installed (`apt-get install chromium`)");
    }
    found
}

/// Runs headless Chromium at a phone's width (390 px) with `args`, then
/// `url`; its standard output.
pub fn run(browser: &PathBuf, args: &[String], url: &str) -> String {
    let profile = tempfile::tempdir().expect("browser profile folder");
    let output = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--hide-scrollbars",
            "--window-size=390,844",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(url)
        .output()
        .expect("chromium runs");
    assert!(
        output.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}
