//! The compiled-code cache runs what it holds as native code, so it must
//! hold only what this host compiled for the component asked for: entries
//! planted under another component's name or damaged on disk are
//! discarded and recompiled, and an unsafe folder is never used.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use calplanebot_tests::components;
use calplanebot_tests::host::{Host, HostOptions, client, test_dir};

fn entries(cache: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .collect();
    found.sort();
    found
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// The built-in guest answers `/` with its service info; the probe has no
/// such route.
fn serves_the_built_in_guest(host: &Host) -> bool {
    let response = client().get(host.url("/")).send().unwrap();
    response.status() == 200
        && response
            .json::<serde_json::Value>()
            .is_ok_and(|body| body["name"] == "CalPlaneBot")
}

/// Invariant: what runs is the component asked for, whatever the cache
/// folder holds.
#[test]
fn planted_and_damaged_entries_are_discarded_and_the_real_guest_served() {
    let dir = test_dir("cache");
    let built_in = HostOptions::default();
    let cache = dir.path().join("data/cache");

    Host::start(dir.path(), &built_in).unwrap().stop().unwrap();
    assert_eq!(mode(&cache), 0o700, "created owner-only");
    assert_eq!(mode(&cache.join("key")), 0o600);
    let [own] = entries(&cache).try_into().expect("one entry");
    assert_eq!(mode(&own), 0o600);

    // Another component's entry, written by this very host under the same
    // key, copied over the built-in guest's name.
    let probe = HostOptions::default().component(components::probe());
    Host::start(dir.path(), &probe).unwrap().stop().unwrap();
    let probe_entry = entries(&cache)
        .into_iter()
        .find(|e| *e != own)
        .expect("the probe's entry");
    std::fs::copy(&probe_entry, &own).unwrap();
    let host = Host::start(dir.path(), &built_in).unwrap();
    assert!(host.log_contains("compiled-code cache entry discarded"));
    assert!(host.log_contains("component compiled"));
    assert!(serves_the_built_in_guest(&host));
    host.stop().unwrap();

    // One bit flipped in the compiled code.
    let mut bytes = std::fs::read(&own).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&own, &bytes).unwrap();
    let host = Host::start(dir.path(), &built_in).unwrap();
    assert!(host.log_contains("compiled-code cache entry discarded"));
    assert!(serves_the_built_in_guest(&host));
    host.stop().unwrap();

    // The recompiled entry is sound: the next start uses it.
    let host = Host::start(dir.path(), &built_in).unwrap();
    assert!(!host.log_contains("discarded"));
    assert!(!host.log_contains("component compiled"));
    assert!(serves_the_built_in_guest(&host));
}

/// Invariant: a cache folder others could write to, or a symlink, is never
/// read or written; the service still starts and says what to fix.
#[test]
fn a_cache_folder_others_can_write_to_is_refused() {
    let dir = test_dir("cache-unsafe");
    let cache = dir.path().join("data/cache");
    std::fs::create_dir_all(&cache).unwrap();
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o777)).unwrap();
    let host = Host::start(dir.path(), &HostOptions::default()).unwrap();
    assert!(host.wait_for_log("writable by other users", Duration::from_secs(5)));
    assert!(host.log_contains("compiling without a cache"));
    assert!(serves_the_built_in_guest(&host));
    host.stop().unwrap();
    assert!(entries(&cache).is_empty(), "nothing written into it");
    assert!(!cache.join("key").exists());

    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    std::fs::remove_dir(&cache).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &cache).unwrap();
    let host = Host::start(dir.path(), &HostOptions::default()).unwrap();
    assert!(host.wait_for_log("symbolic link", Duration::from_secs(5)));
    assert!(serves_the_built_in_guest(&host));
    host.stop().unwrap();
    assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0);
}
