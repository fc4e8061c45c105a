//! The `wasmtime` command-line tool, for running the `wasmtime-serve`
//! build under `wasmtime serve` itself.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// The version line the tests were written against: `wasmtime serve` 48
/// links `wasi:keyvalue@0.2.0-draft` and `wasi:config@0.2.0-rc.1`.
const SUPPORTED: &str = "wasmtime 48.";

/// `wasmtime` 48.x from the `PATH` (or `~/.cargo/bin`), if installed.
pub fn binary() -> Option<PathBuf> {
    static FOUND: OnceLock<Option<PathBuf>> = OnceLock::new();
    FOUND
        .get_or_init(|| {
            let mut candidates: Vec<PathBuf> = std::env::var_os("PATH")
                .map(|path| {
                    std::env::split_paths(&path)
                        .map(|d| d.join("wasmtime"))
                        .collect()
                })
                .unwrap_or_default();
            if let Some(home) = std::env::var_os("HOME") {
                candidates.push(PathBuf::from(home).join(".cargo/bin/wasmtime"));
            }
            candidates.into_iter().find(|candidate| {
                Command::new(candidate)
                    .arg("--version")
                    .output()
                    .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).starts_with(SUPPORTED))
            })
        })
        .clone()
}

/// Whether a test that needs `wasmtime` may run; where CI runs (`CI` set),
/// a missing `wasmtime` fails the test instead of skipping it, as
/// `.ci/run` installs it.
pub fn available(test: &str) -> bool {
    if binary().is_some() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{test}: wasmtime 48 is not installed (cargo install wasmtime-cli --version 48.0.8 --locked)"
    );
    eprintln!(
        "SKIPPED {test}: wasmtime 48 is not on the PATH \
         (cargo install wasmtime-cli --version 48.0.8 --locked)"
    );
    false
}
