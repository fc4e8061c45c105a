//! The deployment manifests agree with the code: `spin.toml` declares a
//! variable for every documented setting (secrets marked secret, required
//! ones required) and for every setting the guest reads; its component
//! source is what `just guest` builds; the Spin runtime configuration and
//! the wasmCloud manifest point at the builds they need.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use calplanebot_tests::repository::{read, root};
use toml::Value;

/// Settings only the bundled host reads (the guest's log lines are
/// filtered by it): no other host has a use for them.
const HOST_ONLY: &[&str] = &["LOG_LEVEL"];
/// Set by calplanebot's host itself, never by an operator; the guest runs
/// without them elsewhere (no boot id, no scheduler, the default time limit).
const SET_BY_THE_HOST: &[&str] = &[
    "CALPLANEBOT_BOOT_ID",
    "CALPLANEBOT_SCHEDULER_TOKEN",
    "CALPLANEBOT_REQUEST_TIMEOUT_SECONDS",
];
/// Settings an operator must give: the service cannot sync without them.
const REQUIRED: &[&str] = &[
    "PLANE_BASE_URL",
    "PLANE_API_TOKEN",
    "PLANE_WORKSPACE_SLUG",
    "CALDAV_URL",
    "CALDAV_USERNAME",
    "CALDAV_PASSWORD",
];

/// The documented keys (`host/src/config/keys.rs`, the list the README's
/// table follows) and whether each is a secret.
fn documented() -> BTreeMap<String, bool> {
    let source = read("host/src/config/keys.rs");
    let list = source
        .split("pub const KEYS: &[Key] = &[")
        .nth(1)
        .expect("keys.rs has KEYS");
    let mut keys = BTreeMap::new();
    for entry in list
        .split("key(")
        .skip(1)
        .chain(list.split("service_url(").skip(1))
    {
        let name = entry.split('"').nth(1).expect("a key's name");
        let secret = entry
            .split(',')
            .nth(1)
            .is_some_and(|kind| kind.trim() == "Kind::Secret");
        keys.insert(name.to_string(), secret);
    }
    assert!(keys.len() > 20, "keys.rs could not be read: {keys:?}");
    keys
}

/// Every upper-case snake-case string the guest's source holds that is
/// not one of its error codes: the keys it reads (whatever the call), and
/// the few other names listed in [`NOT_SETTINGS`].
fn read_by_the_guest() -> BTreeSet<String> {
    fn walk(dir: &Path, found: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).unwrap().map(Result::unwrap) {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, found);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                for quoted in text.split('"').skip(1).step_by(2) {
                    let snake = quoted.contains('_')
                        && quoted.len() > 3
                        && quoted
                            .chars()
                            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
                    if snake {
                        found.insert(quoted.to_string());
                    }
                }
            }
        }
    }
    let mut found = BTreeSet::new();
    walk(&root().join("guest/src"), &mut found);
    let openapi = read("guest/src/api/openapi.json");
    found.retain(|name| {
        !openapi.contains(&format!("\"{name}\"")) && !NOT_SETTINGS.contains(&name.as_str())
    });
    found
}

/// Upper-case names in the guest that are not settings: build-time
/// variables of cargo and of the build script.
const NOT_SETTINGS: &[&str] = &["CARGO_PKG_VERSION", "CALPLANEBOT_BUILD_LABEL"];

fn spin() -> Value {
    Value::Table(read("spin.toml").parse().expect("spin.toml is valid TOML"))
}

#[test]
fn spin_declares_every_setting_the_guest_reads_and_marks_the_secrets() {
    let spin = spin();
    let variables = spin["variables"].as_table().expect("[variables]");
    let component = &spin["component"]["calplanebot"];
    let passed = component["variables"]
        .as_table()
        .expect("component variables");
    let documented = documented();

    for (key, secret) in &documented {
        if HOST_ONLY.contains(&key.as_str()) {
            continue;
        }
        let name = key.to_ascii_lowercase();
        let declared = variables
            .get(&name)
            .and_then(Value::as_table)
            .unwrap_or_else(|| panic!("spin.toml declares no variable {name} for {key}"));
        assert_eq!(
            declared
                .get("secret")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            *secret,
            "{name}: secret = {secret} expected"
        );
        let required = declared
            .get("required")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        assert_eq!(
            required,
            REQUIRED.contains(&key.as_str()),
            "{name}: required"
        );
        if !required {
            // A default would be a setting chosen in the manifest: the
            // guest's own defaults apply to a blank value.
            assert_eq!(
                declared.get("default").and_then(Value::as_str),
                Some(""),
                "{name}: an optional variable defaults to blank"
            );
        }
        assert_eq!(
            passed.get(&name).and_then(Value::as_str),
            Some(format!("{{{{ {name} }}}}").as_str()),
            "the component is given {name}"
        );
    }
    let read = read_by_the_guest();
    // The scan sees the keys read in config.rs and elsewhere.
    for sure in [
        "PLANE_API_TOKEN",
        "CALPLANEBOT_API_TOKEN",
        "CALPLANEBOT_BOOT_ID",
        "ENABLE_SYNC",
    ] {
        assert!(read.contains(sure), "the scan missed {sure}: {read:?}");
    }
    for key in read {
        if SET_BY_THE_HOST.contains(&key.as_str()) {
            continue;
        }
        assert!(
            documented.contains_key(&key),
            "the guest reads {key}, which keys.rs does not document"
        );
        assert!(
            passed.contains_key(&key.to_ascii_lowercase()),
            "the guest reads {key}, which spin.toml does not give the component"
        );
    }
    // Nothing else is passed: every component variable is a documented key.
    for name in passed.keys() {
        assert!(
            documented.contains_key(&name.to_ascii_uppercase()),
            "spin.toml passes {name}, which is not a documented setting"
        );
    }
}

#[test]
fn spin_reaches_only_the_configured_origins_and_serves_the_default_build() {
    let spin = spin();
    let variables = spin["variables"].as_table().unwrap();
    let component = &spin["component"]["calplanebot"];
    let hosts: Vec<&str> = component["allowed_outbound_hosts"]
        .as_array()
        .expect("allowed_outbound_hosts")
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(hosts, ["{{ plane_origin }}", "{{ caldav_origin }}"]);
    for origin in ["plane_origin", "caldav_origin"] {
        // An empty one stops Spin from loading the app: no default.
        assert_eq!(
            variables[origin]["required"].as_bool(),
            Some(true),
            "{origin}"
        );
        assert!(variables[origin].get("default").is_none(), "{origin}");
    }
    assert_eq!(
        component["key_value_stores"].as_array().unwrap(),
        &vec![Value::String("default".into())]
    );
    let source = component["source"].as_str().unwrap();
    assert_eq!(source, "target/components/calplanebot-spin.wasm");
    assert!(read("justfile").contains("{{components}}/calplanebot-spin.wasm"));
    assert_eq!(component["build"]["command"].as_str(), Some("just guest"));
    let trigger = &spin["trigger"]["http"].as_array().unwrap()[0];
    assert_eq!(trigger["route"].as_str(), Some("/..."));
    assert_eq!(trigger["component"].as_str(), Some("calplanebot"));
}

#[test]
fn the_spin_runtime_config_and_the_wasmcloud_manifest_name_their_stores_and_builds() {
    let runtime = Value::Table(
        read("deploy/spin/runtime-config.toml")
            .parse()
            .expect("runtime-config.toml is valid TOML"),
    );
    let store = &runtime["key_value_store"]["default"];
    assert_eq!(store["type"].as_str(), Some("redis"));
    let url = store["url"].as_str().unwrap();
    // A database index of its own: Spin's Redis store ignores store names.
    let database = url.rsplit('/').next().unwrap();
    assert!(
        url.starts_with("redis://") && database.parse::<u32>().is_ok(),
        "{url}"
    );

    let wadm = read("deploy/wasmcloud/wadm.yaml");
    assert!(wadm.contains("image: file://./target/components/calplanebot-wasmtime-serve.wasm"));
    assert!(read("justfile").contains("{{components}}/calplanebot-wasmtime-serve.wasm"));
    for interface in [
        "package: keyvalue",
        "package: http",
        "interfaces: [incoming-handler]",
    ] {
        assert!(wadm.contains(interface), "wadm.yaml lacks {interface}");
    }
    // No secret is written in the manifest, only referenced.
    for secret in [
        "plane_api_token:",
        "caldav_password:",
        "plane_webhook_secret:",
    ] {
        assert!(!wadm.contains(secret), "wadm.yaml writes {secret}");
    }
}
