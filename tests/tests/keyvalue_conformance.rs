//! One `wasi:keyvalue` conformance suite, run through the real host by the
//! probe component against each backend: the embedded store and a real
//! Redis. Then what only Redis can show: two hosts on one database, prefixes
//! that keep deployments apart, and a Redis that goes away and comes back.

use std::time::Duration;

use calplanebot_tests::host::{Host, HostOptions, client, probe_host};
use calplanebot_tests::redis_server::RedisServer;

fn get(host: &Host, path: &str) -> (u16, String) {
    let response = client().get(host.url(path)).send().unwrap();
    (response.status().as_u16(), response.text().unwrap())
}

fn post(host: &Host, path: &str, body: &str) -> (u16, String) {
    let response = client()
        .post(host.url(path))
        .body(body.to_string())
        .send()
        .unwrap();
    (response.status().as_u16(), response.text().unwrap())
}

fn redis_options(redis: &RedisServer, prefix: &str) -> HostOptions {
    HostOptions::default()
        .arg("--store")
        .arg(redis.url())
        .arg("--store-prefix")
        .arg(prefix)
}

/// The suite. Invariants: reads see the last acknowledged write; deletes
/// remove; counters start at 0, go both ways and refuse text; a
/// compare-and-swap succeeds only against the value it saw; a listing
/// through every page returns every key exactly as stored; concurrent
/// increments and compare-and-swap loops from many instances lose nothing;
/// the store's size limit refuses growth but not shrinking.
fn conformance(host: &Host) {
    assert_eq!(get(host, "/kv/get?key=absent").0, 404);
    assert_eq!(post(host, "/kv/set?key=a", "one"), (200, "stored".into()));
    assert_eq!(get(host, "/kv/get?key=a"), (200, "one".into()));
    assert_eq!(post(host, "/kv/set?key=a", "two"), (200, "stored".into()));
    assert_eq!(get(host, "/kv/get?key=a"), (200, "two".into()));
    assert_eq!(get(host, "/kv/delete?key=a"), (200, "deleted".into()));
    assert_eq!(get(host, "/kv/get?key=a").0, 404);
    assert_eq!(
        get(host, "/kv/delete?key=never").0,
        200,
        "deleting nothing is fine"
    );

    assert_eq!(get(host, "/kv/incr?key=n&by=5"), (200, "5".into()));
    assert_eq!(get(host, "/kv/incr?key=n&by=-7"), (200, "-2".into()));
    assert_eq!(get(host, "/kv/incr?key=zero&by=0"), (200, "0".into()));
    assert_eq!(
        post(host, "/kv/set?key=text", "abc"),
        (200, "stored".into())
    );
    let (status, error) = get(host, "/kv/incr?key=text&by=1");
    assert_eq!(status, 500);
    assert!(error.contains("not a counter"), "{error}");
    assert_eq!(
        get(host, "/kv/get?key=text"),
        (200, "abc".into()),
        "left as it was"
    );
    let max = i64::MAX.to_string();
    assert_eq!(
        get(host, &format!("/kv/incr?key=max&by={max}")),
        (200, max.clone())
    );
    let (status, error) = get(host, "/kv/incr?key=max&by=1");
    assert_eq!(status, 500);
    assert!(error.contains("overflow"), "{error}");
    assert_eq!(
        get(host, "/kv/get?key=max"),
        (200, max),
        "exact past 2^53, left as it was"
    );

    assert_eq!(post(host, "/kv/cas?key=c", "1"), (200, "swapped".into()));
    assert_eq!(post(host, "/kv/cas?key=c", "x"), (409, "1".into()));
    assert_eq!(
        post(host, "/kv/cas?key=c&expected=2", "x"),
        (409, "1".into())
    );
    assert_eq!(
        post(host, "/kv/cas?key=c&expected=1", "2"),
        (200, "swapped".into())
    );
    assert_eq!(get(host, "/kv/get?key=c"), (200, "2".into()));

    // More keys than one page of either backend.
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let url = host.url("");
            std::thread::spawn(move || {
                let client = client();
                for i in 0..300 {
                    let response = client
                        .post(format!("{url}/kv/set?key=list:{t}:{i}"))
                        .body("v")
                        .send()
                        .unwrap();
                    assert_eq!(response.status(), 200);
                }
            })
        })
        .collect();
    threads.into_iter().for_each(|t| t.join().unwrap());
    let (status, listing) = get(host, "/kv/list");
    assert_eq!(status, 200);
    let mut listed: Vec<&str> = listing
        .lines()
        .filter(|key| key.starts_with("list:"))
        .collect();
    listed.sort_unstable();
    listed.dedup();
    assert_eq!(listed.len(), 1200, "every key listed");
    for key in ["n", "c", "text", "max"] {
        assert!(listing.lines().any(|k| k == key), "{key} listed");
    }
    assert!(
        !listing.lines().any(|k| k == "a"),
        "a deleted key is not listed"
    );
    assert!(
        !listing.lines().any(|k| k == "zero"),
        "adding 0 to nothing writes nothing"
    );

    // Many instances at once.
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let url = host.url("");
            std::thread::spawn(move || {
                let client = client();
                for _ in 0..25 {
                    let response = client
                        .get(format!("{url}/kv/incr?key=shared&by=1"))
                        .send()
                        .unwrap();
                    assert_eq!(response.status(), 200);
                }
            })
        })
        .collect();
    threads.into_iter().for_each(|t| t.join().unwrap());
    assert_eq!(get(host, "/kv/incr?key=shared&by=0"), (200, "200".into()));
    cas_increments(host, "cas-counter", 4, 15);
    assert_eq!(get(host, "/kv/get?key=cas-counter"), (200, "60".into()));
}

/// `threads` clients each add 1 to `key` `times` times by read, then
/// compare-and-swap, retrying on conflict: a lost update shows in the total.
fn cas_increments(host: &Host, key: &str, threads: usize, times: usize) {
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let url = host.url("");
            let key = key.to_string();
            std::thread::spawn(move || {
                let client = client();
                for _ in 0..times {
                    loop {
                        let seen = client
                            .get(format!("{url}/kv/get?key={key}"))
                            .send()
                            .unwrap();
                        let expected = match seen.status().as_u16() {
                            404 => None,
                            200 => Some(seen.text().unwrap()),
                            other => panic!("get answered {other}"),
                        };
                        let next = expected.as_deref().map_or(0, |v| v.parse::<u64>().unwrap()) + 1;
                        let query = match &expected {
                            Some(value) => format!("key={key}&expected={value}"),
                            None => format!("key={key}"),
                        };
                        let swapped = client
                            .post(format!("{url}/kv/cas?{query}"))
                            .body(next.to_string())
                            .send()
                            .unwrap();
                        match swapped.status().as_u16() {
                            200 => break,
                            409 => continue,
                            other => panic!("cas answered {other}"),
                        }
                    }
                }
            })
        })
        .collect();
    workers.into_iter().for_each(|t| t.join().unwrap());
}

/// Invariant: the size limit refuses growth past it (a value or a new
/// counter) with an error naming the flag, and a full store can still be
/// shrunk and written again.
fn store_size_limit(host: &Host) {
    for key in ["a", "b", "c"] {
        let path = format!("/kv/big?bytes=614400&key={key}");
        assert_eq!(get(host, &path), (200, "stored".into()), "{key}");
    }
    let (status, error) = get(host, "/kv/big?bytes=614400&key=d");
    assert_eq!(status, 507);
    assert!(error.contains("--max-store-mib"), "{error}");
    assert_eq!(get(host, "/kv/get?key=d").0, 404);
    // A new counter is growth too (one per client, for rate limits). Filled
    // to under 23 bytes free (a 20-byte value with a key of 2 or 3 bytes no
    // longer fits), a counter with a 24-byte key is refused.
    let mut fillers = Vec::new();
    for size in [200_000, 50_000, 10_000, 2_000, 500, 100, 20] {
        loop {
            let key = format!("f{}", fillers.len());
            if get(host, &format!("/kv/big?bytes={size}&key={key}")).0 != 200 {
                break;
            }
            fillers.push(key);
        }
    }
    let (status, error) = get(host, "/kv/incr?key=a-new-counter-of-24-byte&by=1");
    assert_ne!(status, 200, "a new counter in a full store: {error}");
    assert!(error.contains("full"), "{error}");
    for key in &fillers {
        assert_eq!(get(host, &format!("/kv/delete?key={key}")).0, 200);
    }
    assert_eq!(get(host, "/kv/big?bytes=10&key=a"), (200, "stored".into()));
    assert_eq!(get(host, "/kv/delete?key=b"), (200, "deleted".into()));
    assert_eq!(
        get(host, "/kv/big?bytes=614400&key=d"),
        (200, "stored".into())
    );
}

#[test]
fn the_embedded_store_conforms() {
    let (host, _dir) = probe_host("kv-embedded", HostOptions::default());
    conformance(&host);
}

#[test]
fn redis_conforms() {
    let redis = RedisServer::start().expect("redis-server starts");
    let (host, _dir) = probe_host("kv-redis", redis_options(&redis, "conformance:"));
    conformance(&host);
}

#[test]
fn both_backends_cap_the_store_size() {
    let limit = |options: HostOptions| options.arg("--max-store-mib").arg("2");
    let (host, _dir) = probe_host("kv-size-embedded", limit(HostOptions::default()));
    store_size_limit(&host);
    let redis = RedisServer::start().expect("redis-server starts");
    let (host, _dir) = probe_host("kv-size-redis", limit(redis_options(&redis, "size:")));
    store_size_limit(&host);
}

/// Invariants: two hosts on one Redis and one prefix are one store (what
/// one writes the other reads; increments and compare-and-swaps split
/// across them lose nothing); another prefix on the same database sees
/// none of it.
#[test]
fn replicas_share_one_store_and_prefixes_keep_deployments_apart() {
    let redis = RedisServer::start().expect("redis-server starts");
    let (first, _a) = probe_host("kv-replica-a", redis_options(&redis, "team:"));
    let (second, _b) = probe_host("kv-replica-b", redis_options(&redis, "team:"));
    let (other, _c) = probe_host("kv-other", redis_options(&redis, "other:"));
    assert_eq!(
        post(&first, "/kv/set?key=k", "from-first"),
        (200, "stored".into())
    );
    assert_eq!(get(&second, "/kv/get?key=k"), (200, "from-first".into()));
    assert_eq!(get(&other, "/kv/get?key=k").0, 404);
    assert!(!get(&other, "/kv/list").1.lines().any(|k| k == "k"));

    let hosts = [&first, &second];
    std::thread::scope(|scope| {
        for (i, host) in hosts.iter().cycle().take(6).enumerate() {
            scope.spawn(move || {
                for _ in 0..20 {
                    assert_eq!(get(host, "/kv/incr?key=fleet&by=1").0, 200, "worker {i}");
                }
            });
        }
        for host in hosts {
            scope.spawn(move || cas_increments(host, "fleet-cas", 2, 10));
        }
    });
    assert_eq!(get(&second, "/kv/incr?key=fleet&by=0"), (200, "120".into()));
    assert_eq!(get(&first, "/kv/get?key=fleet-cas"), (200, "40".into()));
}

/// Invariants: with Redis gone, store calls fail with an error that says
/// the store is unavailable and not where it is (no hang past the
/// timeout, no crash); once Redis
/// is back the same host serves again by itself, with every write it
/// acknowledged before.
#[test]
fn a_host_rides_out_redis_going_away_and_coming_back() {
    let mut redis = RedisServer::start().expect("redis-server starts");
    let options = redis_options(&redis, "outage:")
        .arg("--store-timeout")
        .arg("1");
    let (mut host, _dir) = probe_host("kv-outage", options);
    assert_eq!(
        post(&host, "/kv/set?key=kept", "yes"),
        (200, "stored".into())
    );
    redis.stop();
    let (status, error) = get(&host, "/kv/get?key=kept");
    assert_eq!(status, 500);
    assert!(error.contains("unavailable"), "{error}");
    // The guest may repeat the error to anyone: the store's address stays
    // in the host's log.
    let address = format!("127.0.0.1:{}", redis.port);
    assert!(!error.contains(&address), "{error}");
    assert!(
        host.wait_for_log("the key-value store is unavailable", Duration::from_secs(5)),
        "the host logs the detail"
    );
    redis.restart().expect("redis-server restarts");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let answer = get(&host, "/kv/get?key=kept");
        if answer == (200, "yes".into()) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not recovered: {answer:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(host.is_running());
}

/// Invariant: a `--store` URL with a scheme the host does not know stops
/// start-up with a message naming the schemes it knows, and creates nothing;
/// an unreachable Redis stops start-up naming the store, without its
/// password.
#[test]
fn a_store_the_host_cannot_use_stops_start_up_with_a_clear_message() {
    let dir = calplanebot_tests::host::test_dir("kv-bad-store");
    // Fails to start and returns what it printed.
    let refused = |args: &[&str]| {
        let output = std::process::Command::new(calplanebot_tests::host::host_binary())
            .args(["serve", "--listen", "127.0.0.1:0", "--store-timeout", "1"])
            .args(args)
            .current_dir(dir.path())
            .env_clear()
            .output()
            .unwrap();
        assert!(!output.status.success(), "{args:?} started");
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let stderr = refused(&["--store", "redsi://127.0.0.1:6379/0"]);
    assert!(
        stderr.contains("redis://") && stderr.contains("rediss://"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "nothing created"
    );

    // clap would echo a value it refuses: a password in it must not be.
    for value in [
        "redsi://:hunter2@127.0.0.1:6379/0",
        "redis://:hunt/er2@127.0.0.1/zero",
    ] {
        let stderr = refused(&["--store", value]);
        assert!(stderr.contains("--store"), "{stderr}");
        assert!(
            !stderr.contains("hunter2") && !stderr.contains("hunt/er2"),
            "{stderr}"
        );
    }

    let port = calplanebot_tests::caldav_server::free_port();
    let stderr = refused(&["--store", &format!("redis://:hunter2@127.0.0.1:{port}/0")]);
    assert!(stderr.contains("cannot reach the store"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");
}
