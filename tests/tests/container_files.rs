//! The container files agree with the repository: the `Dockerfile` copies
//! paths that exist (every workspace member and every input of the host's
//! build), builds the host's binary with the pinned toolchain, and runs it
//! as an unprivileged user on the host's default port with its state in the
//! volume; `.dockerignore` keeps outputs, state and secrets out of the build
//! context; the `compose.yaml` example builds that image and keeps its
//! state. Nothing here builds or runs a container.

use std::collections::BTreeMap;
use std::path::Path;

use calplanebot_tests::repository::{read, root};
use toml::Value;

fn toml_file(path: &str) -> Value {
    Value::Table(
        read(path)
            .parse()
            .unwrap_or_else(|e| panic!("{path} is not valid TOML: {e}")),
    )
}

/// One Dockerfile instruction: its keyword in upper case and its arguments,
/// continuation lines joined.
#[derive(Debug)]
struct Instruction {
    keyword: String,
    args: String,
}

/// The Dockerfile's stages in order, each starting with its `FROM`.
fn stages() -> Vec<Vec<Instruction>> {
    let text = read("Dockerfile");
    let mut instructions = Vec::new();
    let mut pending = String::new();
    for line in text.lines() {
        let line = line.trim();
        // Docker drops comment lines, also inside a continued instruction.
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(head) = line.strip_suffix('\\') {
            pending.push_str(head);
            pending.push(' ');
            continue;
        }
        pending.push_str(line);
        let (keyword, args) = pending
            .split_once(char::is_whitespace)
            .unwrap_or((pending.as_str(), ""));
        instructions.push(Instruction {
            keyword: keyword.to_ascii_uppercase(),
            args: args.trim().to_string(),
        });
        pending.clear();
    }
    assert!(
        pending.is_empty(),
        "the Dockerfile ends inside a continued line"
    );
    let mut stages: Vec<Vec<Instruction>> = Vec::new();
    for instruction in instructions {
        if instruction.keyword == "FROM" {
            stages.push(Vec::new());
        }
        stages
            .last_mut()
            .expect("the Dockerfile starts with FROM")
            .push(instruction);
    }
    assert!(stages.len() >= 2, "a build stage and a runtime stage");
    stages
}

fn all<'a>(stage: &'a [Instruction], keyword: &str) -> impl Iterator<Item = &'a Instruction> {
    stage.iter().filter(move |i| i.keyword == keyword)
}

/// The arguments of the stage's last `keyword`, the one in force.
fn last<'a>(stage: &'a [Instruction], keyword: &str) -> &'a str {
    all(stage, keyword)
        .last()
        .map(|i| i.args.as_str())
        .unwrap_or_else(|| panic!("the stage has no {keyword}"))
}

/// A stage's image and name, from its `FROM`.
fn image_and_name(stage: &[Instruction]) -> (&str, Option<&str>) {
    let words: Vec<&str> = stage[0]
        .args
        .split_whitespace()
        .filter(|w| !w.starts_with("--"))
        .collect();
    let name = match words.as_slice() {
        [_, keyword, name] if keyword.eq_ignore_ascii_case("as") => Some(*name),
        [_] => None,
        _ => panic!("FROM {}: expected `image [AS name]`", stage[0].args),
    };
    (words[0], name)
}

/// An instruction in exec (JSON) form, such as `CMD ["serve"]`.
fn exec_form(args: &str) -> Vec<String> {
    serde_json::from_str(args).unwrap_or_else(|e| panic!("{args}: not in exec (JSON) form: {e}"))
}

struct CopyArgs {
    flags: Vec<String>,
    sources: Vec<String>,
    destination: String,
}

impl CopyArgs {
    fn parse(args: &str) -> Self {
        let mut rest = args.trim();
        let mut flags = Vec::new();
        while rest.starts_with("--") {
            let (flag, tail) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
            flags.push(flag.to_string());
            rest = tail.trim_start();
        }
        let mut operands: Vec<String> = if rest.starts_with('[') {
            exec_form(rest)
        } else {
            rest.split_whitespace().map(str::to_string).collect()
        };
        let destination = operands.pop().expect("COPY has a destination");
        assert!(!operands.is_empty(), "COPY {args} has no source");
        CopyArgs {
            flags,
            sources: operands,
            destination,
        }
    }

    /// The stage copied from, or `None` for the build context.
    fn stage(&self) -> Option<&str> {
        self.flags.iter().find_map(|f| f.strip_prefix("--from="))
    }
}

/// Every path copied from the build context, without a trailing slash.
fn copied_from_the_context() -> Vec<String> {
    let mut copied = Vec::new();
    for stage in stages() {
        for instruction in all(&stage, "COPY") {
            let copy = CopyArgs::parse(&instruction.args);
            if copy.stage().is_none() {
                copied.extend(
                    copy.sources
                        .iter()
                        .map(|s| s.trim_end_matches('/').to_string()),
                );
            }
        }
    }
    copied
}

/// The stage the final one copies the binary from, and that copy.
fn build_stage_and_binary(stages: &[Vec<Instruction>]) -> (&[Instruction], CopyArgs) {
    let runtime = stages.last().unwrap();
    let mut from_stages: Vec<CopyArgs> = all(runtime, "COPY")
        .map(|i| CopyArgs::parse(&i.args))
        .filter(|c| c.stage().is_some())
        .collect();
    assert_eq!(
        from_stages.len(),
        1,
        "the final stage copies one thing from the build: the binary"
    );
    let binary = from_stages.remove(0);
    let name = binary.stage().unwrap();
    let build = stages
        .iter()
        .find(|stage| image_and_name(stage).1 == Some(name))
        .unwrap_or_else(|| panic!("no stage is named {name}"));
    (build.as_slice(), binary)
}

/// `.dockerignore`'s exclusions (exceptions, `!…`, are not used).
fn dockerignore() -> Vec<String> {
    let patterns: Vec<String> = read(".dockerignore")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect();
    assert!(
        patterns.iter().all(|p| !p.starts_with('!')),
        "an exception in .dockerignore: the checks here do not read them"
    );
    patterns
}

/// `*` matching within one path component.
fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, tail)) => {
            text.starts_with(head)
                && (head.len()..=text.len())
                    .any(|i| text.is_char_boundary(i) && glob(tail, &text[i..]))
        }
    }
}

/// Whether a `.dockerignore` pattern leaves out `path` or a folder holding it.
fn ignores(pattern: &str, path: &str) -> bool {
    let pattern = pattern.trim_start_matches('/').trim_end_matches('/');
    let (anywhere, pattern) = match pattern.strip_prefix("**/") {
        Some(rest) => (true, rest),
        None => (false, pattern),
    };
    let wanted: Vec<&str> = pattern.split('/').collect();
    let parts: Vec<&str> = path.split('/').collect();
    let starts = if anywhere { parts.len() } else { 1 };
    (0..starts).any(|start| {
        parts.len() >= start + wanted.len()
            && wanted
                .iter()
                .zip(&parts[start..])
                .all(|(want, part)| glob(want, part))
    })
}

/// The host's default port, from `host/src/main.rs`'s `PORT` fallback.
fn default_port() -> String {
    let main = read("host/src/main.rs");
    let line = main
        .lines()
        .find(|l| l.contains("var(\"PORT\")"))
        .expect("host/src/main.rs reads PORT");
    // std::env::var("PORT").unwrap_or_else(|_| "8765".into())
    let port = line.split('"').nth(3).expect("PORT's default");
    assert!(port.parse::<u16>().is_ok(), "PORT's default: {port}");
    port.to_string()
}

/// `--shutdown-grace`'s default, in seconds.
fn shutdown_grace() -> u64 {
    let main = read("host/src/main.rs");
    let before = main
        .split("shutdown_grace: u64")
        .next()
        .filter(|b| b.len() < main.len())
        .expect("host/src/main.rs has --shutdown-grace");
    let default = before
        .rsplit("default_value_t = ")
        .next()
        .expect("--shutdown-grace has a default");
    let digits: String = default.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().expect("--shutdown-grace's default")
}

fn env_of(stage: &[Instruction]) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    for instruction in all(stage, "ENV") {
        for pair in instruction.args.split_whitespace() {
            let (key, value) = pair
                .split_once('=')
                .unwrap_or_else(|| panic!("ENV {}: expected KEY=value", instruction.args));
            env.insert(key.to_string(), value.trim_matches('"').to_string());
        }
    }
    env
}

fn the_volume(stage: &[Instruction]) -> String {
    let args = last(stage, "VOLUME");
    let volumes = if args.starts_with('[') {
        exec_form(args)
    } else {
        args.split_whitespace().map(str::to_string).collect()
    };
    assert_eq!(volumes.len(), 1, "one VOLUME: {volumes:?}");
    volumes[0].trim_end_matches('/').to_string()
}

/// Invariant: every path the Dockerfile copies from the build context exists
/// in the repository, and `.dockerignore` does not leave it out.
#[test]
fn every_path_the_dockerfile_copies_exists() {
    let copied = copied_from_the_context();
    assert!(!copied.is_empty());
    let ignored = dockerignore();
    for source in &copied {
        // A wildcard would copy whatever happens to match.
        assert!(
            !source.contains(['*', '?', '[']),
            "COPY {source}: name the path"
        );
        assert!(
            !source.starts_with('/') && !source.split('/').any(|c| c == ".."),
            "COPY {source}: a path inside the repository"
        );
        assert!(
            root().join(source).exists(),
            "the Dockerfile copies {source}, which the repository does not have"
        );
        for pattern in &ignored {
            assert!(
                !ignores(pattern, source),
                ".dockerignore's {pattern} leaves out {source}, which the Dockerfile copies"
            );
        }
    }
}

/// Invariant: the build copies every workspace member (cargo reads all their
/// manifests even to build one package), the workspace manifest, lock file
/// and toolchain file, and every input the host's build script names.
#[test]
fn the_build_copies_the_whole_workspace_and_the_build_inputs() {
    let copied = copied_from_the_context();
    let covered = |path: &str| {
        copied
            .iter()
            .any(|c| path == c.as_str() || path.starts_with(&format!("{c}/")))
    };
    let manifest = toml_file("Cargo.toml");
    let members = manifest["workspace"]["members"]
        .as_array()
        .expect("[workspace] members");
    assert!(!members.is_empty());
    for member in members {
        let member = member.as_str().expect("a member's path");
        assert!(
            covered(&format!("{member}/Cargo.toml")),
            "the Dockerfile does not copy the workspace member {member}"
        );
    }
    for file in ["Cargo.toml", "Cargo.lock", "rust-toolchain.toml"] {
        assert!(covered(file), "the Dockerfile does not copy {file}");
    }
    let build_script = read("host/build.rs");
    let inputs: Vec<&str> = build_script
        .split("root.join(\"")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap())
        .collect();
    // The scan sees the inputs outside host/.
    for sure in ["guest/src", "wit"] {
        assert!(
            inputs.contains(&sure),
            "the scan of host/build.rs missed {sure}: {inputs:?}"
        );
    }
    for input in inputs {
        assert!(
            covered(input),
            "the host's build reads {input}, which the Dockerfile does not copy"
        );
    }
}

/// Invariant: the final stage runs the host's binary (the `[[bin]]` of
/// host/Cargo.toml), copied from where the build stage's
/// `cargo build --release --locked -p calplanebot` puts it, and installed on
/// the PATH.
#[test]
fn the_image_runs_the_binary_the_build_stage_builds() {
    let host = toml_file("host/Cargo.toml");
    let package = host["package"]["name"].as_str().unwrap();
    let bins: Vec<&str> = host["bin"]
        .as_array()
        .expect("host/Cargo.toml has [[bin]]")
        .iter()
        .map(|bin| bin["name"].as_str().expect("a [[bin]] name"))
        .collect();
    assert_eq!(bins, ["calplanebot"]);
    let name = bins[0];

    let stages = stages();
    let (build, binary) = build_stage_and_binary(&stages);
    let workdir = last(build, "WORKDIR").trim_end_matches('/');
    assert_eq!(
        binary.sources,
        [format!("{workdir}/target/release/{name}")],
        "the binary copied from the build stage"
    );
    let cargo = all(build, "RUN")
        .find(|i| i.args.contains("cargo build"))
        .expect("the build stage runs cargo build");
    let words: Vec<&str> = cargo.args.split_whitespace().collect();
    for flag in ["--release", "--locked"] {
        assert!(words.contains(&flag), "cargo build without {flag}");
    }
    assert!(
        words.windows(2).any(|w| w == ["-p", package])
            || words.windows(2).any(|w| w == ["--package", package]),
        "cargo build builds {package}: {}",
        cargo.args
    );
    // Either would move the binary away from target/release.
    assert!(
        !words.iter().any(|w| w.starts_with("--target")),
        "{}",
        cargo.args
    );
    assert!(
        !build.iter().any(|i| i.args.contains("CARGO_TARGET_DIR")),
        "CARGO_TARGET_DIR moves the binary"
    );

    let installed = match binary.destination.strip_suffix('/') {
        Some(folder) => format!("{folder}/{name}"),
        None => binary.destination.clone(),
    };
    assert_eq!(installed, format!("/usr/local/bin/{name}"));
    let entrypoint = exec_form(last(stages.last().unwrap(), "ENTRYPOINT"));
    assert!(
        entrypoint
            .first()
            .is_some_and(|e| e == name || *e == installed),
        "ENTRYPOINT {entrypoint:?} runs {name}"
    );
}

/// Invariant: the build stage's image is the toolchain rust-toolchain.toml
/// pins and adds each target it lists; the runtime stage is the same Debian
/// release, so the binary finds the glibc it was linked against.
#[test]
fn the_build_uses_the_pinned_toolchain_on_the_runtime_release() {
    let toolchain = toml_file("rust-toolchain.toml");
    let channel = toolchain["toolchain"]["channel"].as_str().unwrap();
    let stages = stages();
    let (build, _) = build_stage_and_binary(&stages);
    let (image, _) = image_and_name(build);
    let tag = image
        .strip_prefix("rust:")
        .unwrap_or_else(|| panic!("the build stage is FROM rust:…, not {image}"));
    let (version, release) = tag
        .split_once('-')
        .unwrap_or_else(|| panic!("rust:{tag} names no Debian release"));
    assert_eq!(version, channel, "rust:{tag} against rust-toolchain.toml");
    let (runtime, _) = image_and_name(stages.last().unwrap());
    assert!(
        runtime.contains(release),
        "built on {release}, run on {runtime}"
    );

    let targets = toolchain["toolchain"]["targets"].as_array().unwrap();
    assert!(!targets.is_empty());
    for target in targets {
        let target = target.as_str().unwrap();
        assert!(
            all(build, "RUN").any(|i| i.args.contains("rustup target add")
                && i.args.split_whitespace().any(|w| w == target)),
            "the build stage does not add the target {target}"
        );
    }
}

/// Invariant: the image listens on every interface on the port
/// host/src/main.rs defaults to, and exposes that port.
#[test]
fn the_image_exposes_the_hosts_default_port() {
    let port = default_port();
    assert_eq!(port, "8765");
    let stages = stages();
    let runtime = stages.last().unwrap();
    let exposed = last(runtime, "EXPOSE");
    assert!(
        exposed == port || exposed == format!("{port}/tcp"),
        "EXPOSE {exposed}, the host's default port is {port}"
    );
    let env = env_of(runtime);
    assert_eq!(env.get("PORT"), Some(&port), "ENV PORT");
    // The host's own default, 127.0.0.1, is unreachable from outside.
    assert_eq!(env.get("HOST").map(String::as_str), Some("0.0.0.0"));
}

/// Invariant: the final stage drops root: its last `USER` is a numeric,
/// non-zero UID (which a runtime can verify, as Kubernetes' runAsNonRoot
/// does) and group, set before the `ENTRYPOINT`.
#[test]
fn the_image_runs_as_a_user_other_than_root() {
    let stages = stages();
    let runtime = stages.last().unwrap();
    let user = last(runtime, "USER");
    let (uid, gid) = user.split_once(':').unwrap_or((user, ""));
    let uid: u32 = uid
        .parse()
        .unwrap_or_else(|_| panic!("USER {user}: a numeric UID"));
    assert_ne!(uid, 0, "USER {user} is root");
    if !gid.is_empty() {
        assert_ne!(gid.parse::<u32>().ok(), Some(0), "USER {user}: group 0");
        assert_ne!(gid, "root", "USER {user}");
    }
    let position = |keyword: &str| runtime.iter().rposition(|i| i.keyword == keyword);
    assert!(
        position("USER") < position("ENTRYPOINT"),
        "USER comes before ENTRYPOINT"
    );
}

/// Invariant: the `HEALTHCHECK` asks the liveness route the guest's API
/// documents, `/health`, on the image's port, with a tool the final stage
/// installs.
#[test]
fn the_healthcheck_asks_health() {
    let stages = stages();
    let runtime = stages.last().unwrap();
    let check = last(runtime, "HEALTHCHECK");
    let (_, command) = check
        .split_once("CMD ")
        .unwrap_or_else(|| panic!("HEALTHCHECK {check}: no CMD"));
    let port = default_port();
    assert!(
        command.contains(":${PORT}/health") || command.contains(&format!(":{port}/health")),
        "HEALTHCHECK {command} asks /health on the image's port"
    );
    assert!(
        read("guest/src/api/openapi.json").contains("\"/health\""),
        "the guest documents no /health"
    );
    let tool = command.split_whitespace().next().unwrap();
    assert!(
        all(runtime, "RUN")
            .any(|i| i.args.contains("apt-get install")
                && i.args.split_whitespace().any(|w| w == tool)),
        "the final stage does not install {tool}, which the HEALTHCHECK runs"
    );
}

/// Invariant: the state outlives the container: the store file
/// (`CALPLANEBOT_STORE`, which `serve`, `sync` and `doctor` all read, so a
/// `docker exec … calplanebot sync` finds the served store) is inside the
/// `VOLUME`, which is also the working directory (where the
/// relative `data/cache` lands with Redis), and the final stage gives that
/// folder to its user before declaring the volume.
#[test]
fn the_store_lives_in_the_volume() {
    let stages = stages();
    let runtime = stages.last().unwrap();
    let volume = the_volume(runtime);
    let cmd = exec_form(last(runtime, "CMD"));
    assert_eq!(
        cmd,
        ["serve"],
        "the store comes from the environment, for every command"
    );
    let env = env_of(runtime);
    let store = env
        .get("CALPLANEBOT_STORE")
        .expect("the image sets CALPLANEBOT_STORE");
    let main = read("host/src/main.rs");
    assert!(
        main.contains("env = \"CALPLANEBOT_STORE\""),
        "--store reads CALPLANEBOT_STORE"
    );
    assert!(!store.contains("://"), "the image's store is a file");
    assert!(
        Path::new(store).starts_with(&volume) && Path::new(store) != Path::new(&volume),
        "--store {store} is outside the volume {volume}"
    );
    assert_eq!(last(runtime, "WORKDIR").trim_end_matches('/'), volume);

    let user = last(runtime, "USER");
    let uid = user.split(':').next().unwrap();
    let volume_at = runtime.iter().position(|i| i.keyword == "VOLUME").unwrap();
    // Changes to a folder after VOLUME declares it are discarded.
    assert!(
        runtime[..volume_at].iter().any(|i| i.keyword == "RUN"
            && i.args.split_whitespace().any(|w| w == volume)
            && i.args.contains(uid)),
        "no RUN before VOLUME gives {volume} to {uid}"
    );
}

/// Invariant: `docker stop` sends SIGTERM, on which the host drains for
/// `--shutdown-grace`, a default below the 10 s runtimes wait before SIGKILL.
#[test]
fn the_image_stops_on_sigterm_within_the_runtimes_grace() {
    let stages = stages();
    assert_eq!(last(stages.last().unwrap(), "STOPSIGNAL"), "SIGTERM");
    let grace = shutdown_grace();
    assert_eq!(grace, 8);
    assert!(grace < 10);
}

/// Invariant: the build context leaves out everything git ignores (build
/// outputs, local state, `.env`), store files anywhere and the git folder,
/// so none can end up in an image layer.
#[test]
fn the_build_context_leaves_out_outputs_state_and_secrets() {
    let ignored = dockerignore();
    let left_out = |path: &str| ignored.iter().any(|p| ignores(p, path));
    let gitignore = read(".gitignore");
    let git_ignored: Vec<&str> = gitignore
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.trim_start_matches('/').trim_end_matches('/'))
        .collect();
    for entry in ["target", "data", ".env"] {
        assert!(
            git_ignored.contains(&entry),
            "the scan of .gitignore: {entry}"
        );
    }
    for path in git_ignored.iter().copied().chain([
        ".git/config",
        "backup.redb",
        "host/data/x.redb",
        ".env.local",
    ]) {
        assert!(left_out(path), ".dockerignore does not leave out {path}");
    }
}

// compose.yaml, read line by line: the checks need a few keys only.

fn significant(line: &str) -> bool {
    let t = line.trim();
    !t.is_empty() && !t.starts_with('#')
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// The lines under `key:` at the outermost level of `lines`.
fn block<'a>(lines: &[&'a str], key: &str) -> Option<Vec<&'a str>> {
    let level = lines
        .iter()
        .filter(|l| significant(l))
        .map(|l| indent(l))
        .min()?;
    let heading = format!("{}{key}:", " ".repeat(level));
    let start = lines.iter().position(|l| l.trim_end() == heading)?;
    Some(
        lines[start + 1..]
            .iter()
            .copied()
            .take_while(|l| !significant(l) || indent(l) > level)
            .filter(|l| significant(l))
            .collect(),
    )
}

/// The value of `key: value` at the outermost level of `lines`.
fn scalar<'a>(lines: &[&'a str], key: &str) -> Option<&'a str> {
    let level = lines
        .iter()
        .filter(|l| significant(l))
        .map(|l| indent(l))
        .min()?;
    let margin = " ".repeat(level);
    lines.iter().copied().find_map(|l| {
        let value = l.strip_prefix(margin.as_str())?.strip_prefix(key)?;
        let value = value.strip_prefix(':')?.trim();
        if value.is_empty() {
            None
        } else {
            Some(value.trim_matches('"'))
        }
    })
}

/// The items of a block list (`- item`).
fn items<'a>(lines: &[&'a str]) -> Vec<&'a str> {
    lines
        .iter()
        .copied()
        .filter_map(|l| l.trim().strip_prefix("- "))
        .map(|item| item.trim().trim_matches('"'))
        .collect()
}

/// Invariant: compose.yaml's calplanebot service builds this repository's
/// image, publishes the host's port, keeps `/data` (the image's volume) in a
/// declared named volume, leaves the image's healthcheck in force, lets the
/// host drain on stop, and its optional Redis is configured as the replicas
/// need it (append-only, no eviction).
#[test]
fn compose_builds_the_image_and_keeps_its_state() {
    let text = read("compose.yaml");
    let lines: Vec<&str> = text.lines().collect();
    let services = block(&lines, "services").expect("compose.yaml has services");
    let service = block(&services, "calplanebot").expect("a calplanebot service");
    assert_eq!(scalar(&service, "build"), Some("."));
    assert_eq!(scalar(&service, "env_file"), Some(".env"));

    let port = default_port();
    let ports = items(&block(&service, "ports").expect("calplanebot publishes a port"));
    assert!(
        ports.contains(&format!("{port}:{port}").as_str()),
        "calplanebot maps {port}: {ports:?}"
    );
    if let Some(environment) = block(&service, "environment") {
        assert_eq!(scalar(&environment, "PORT"), Some(port.as_str()));
        assert_eq!(scalar(&environment, "HOST"), Some("0.0.0.0"));
    }

    let stages = stages();
    let volume = the_volume(stages.last().unwrap());
    let mounts = items(&block(&service, "volumes").expect("calplanebot mounts a volume"));
    let name = mounts
        .iter()
        .find_map(|m| m.strip_suffix(&format!(":{volume}")))
        .unwrap_or_else(|| panic!("nothing is mounted at {volume}: {mounts:?}"));
    assert!(!name.starts_with(['.', '/']), "{name}: a named volume");
    let declared = block(&lines, "volumes").expect("top-level volumes");
    assert!(
        declared.iter().any(|l| l.trim() == format!("{name}:")),
        "the volume {name} is not declared"
    );

    assert!(
        block(&service, "healthcheck").is_none() && scalar(&service, "healthcheck").is_none(),
        "the image's HEALTHCHECK applies"
    );
    if let Some(period) = scalar(&service, "stop_grace_period") {
        let seconds: u64 = period
            .strip_suffix('s')
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("stop_grace_period {period}: in seconds"));
        assert!(seconds > shutdown_grace(), "stop_grace_period {period}");
    }

    let redis = block(&services, "redis").expect("a redis service");
    assert_eq!(
        items(&block(&redis, "profiles").expect("redis is optional")),
        ["replicas"]
    );
    let command = scalar(&redis, "command").expect("redis's command");
    for option in ["--appendonly yes", "--maxmemory-policy noeviction"] {
        assert!(command.contains(option), "redis runs without {option}");
    }
    assert!(text.contains("redis://redis:6379/0"));
    let radicale = block(&services, "radicale").expect("a radicale service");
    assert_eq!(
        items(&block(&radicale, "profiles").expect("radicale is optional")),
        ["caldav"]
    );
}
