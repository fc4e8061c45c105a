//! `calplanebot serve`: runs the calplanebot guest component.

mod commands;
mod component;
mod config;
mod guest_log;
mod keyvalue;
mod local;
mod logging;
mod metrics;
mod outbound;
mod runtime;
mod scheduler;
mod server;
mod signals;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use crate::component::{CompiledCache, GuestSlot, Loader};
use crate::config::ConfigSource;
use crate::keyvalue::{
    Backend, EmbeddedStore, Metered, RedisStore, RedisTimeouts, StoreLimits, StoreLocation,
};
use crate::outbound::Allowed;
use crate::runtime::{HostEnv, Limits, Runtime};

/// The guest built from `guest/` by this crate's build script.
const EMBEDDED_GUEST: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/calplanebot_guest.wasm"));

#[derive(Parser)]
#[command(
    name = "calplanebot",
    version,
    about = "Mirrors Plane work items into CalDAV calendars"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    log: logging::LogArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API and run the periodic sync.
    Serve(Box<ServeArgs>),
    /// Check the configuration against Plane and the CalDAV server, one
    /// line per check with what to change; exit 1 when any fails.
    Doctor(Box<DoctorArgs>),
    /// Run one full sync in the foreground, showing its progress; exit 1
    /// when it is partial or failed. Takes the same lease as `serve`.
    Sync(Box<ServeArgs>),
    /// List the configuration keys the guest receives, with their defaults
    /// and whether each is set (values are never shown).
    Config {
        /// Env file to consult besides the environment [default: ./.env if present]
        #[arg(long)]
        env_file: Option<PathBuf>,
    },
}

#[derive(clap::Args)]
struct DoctorArgs {
    /// Print the findings as JSON.
    #[arg(long)]
    json: bool,
    /// Skip the write test (a temporary calendar and event, deleted again).
    #[arg(long)]
    no_write: bool,
    #[command(flatten)]
    run: ServeArgs,
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Address to listen on [default: $HOST:$PORT, else 127.0.0.1:8765]
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Serve this component instead of the built-in one, and swap in each new
    /// version of the file as it changes (SIGHUP forces a reload).
    #[arg(long)]
    component: Option<PathBuf>,
    /// Env file with configuration, re-read when it changes and on SIGHUP
    /// [default: ./.env if present]. A named file must exist.
    #[arg(long)]
    env_file: Option<PathBuf>,
    /// Where the guest's state lives: a file (the embedded store), or
    /// redis://[user:password@]host:port/db or rediss://… (TLS) for
    /// replicas sharing one Redis or Valkey. The password may instead come
    /// from REDIS_PASSWORD in the process environment. The compiled-code
    /// cache is the owner-only folder `cache` beside the file (`data/cache`
    /// with Redis).
    #[arg(long, env = "CALPLANEBOT_STORE", default_value = "data/calplanebot.redb", value_parser = StoreParser)]
    store: StoreLocation,
    /// Prefix of every Redis key this deployment uses; deployments sharing
    /// one Redis database need different prefixes.
    #[arg(long, default_value = "calplanebot:", value_parser = parse_store_prefix)]
    store_prefix: String,
    /// Seconds Redis has to connect, and to answer each command.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=300))]
    store_timeout: u64,
    /// Extra destination the guest may reach: host (its scheme's default
    /// port), host:port, [IPv6]:port or a URL's origin. Repeatable. The
    /// origins of PLANE_BASE_URL and CALDAV_URL are always allowed.
    #[arg(long = "allow-host", value_name = "HOST")]
    allow_hosts: Vec<String>,
    /// Serve HTTPS with this PEM certificate chain (re-read when it changes).
    #[arg(long, requires = "tls_key", value_name = "PATH")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, requires = "tls_cert", value_name = "PATH")]
    tls_key: Option<PathBuf>,
    /// A reverse proxy (address or CIDR) whose X-Forwarded-For or Forwarded
    /// header names the client. Repeatable; no other peer is believed.
    #[arg(long = "trusted-proxy", value_name = "CIDR", value_parser = parse_net)]
    trusted_proxies: Vec<ipnet::IpNet>,
    /// Most open client connections [default: the file-descriptor limit
    /// less 256 kept for outbound requests and storage].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    max_connections: Option<u32>,
    /// Seconds a client has to send a request head once it began.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=600))]
    header_timeout: u64,
    /// Seconds a kept-alive connection may sit idle between requests.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    idle_timeout: u64,
    /// Seconds a client has to send a request body once its head arrived.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=600))]
    body_timeout: u64,
    /// Largest request body, in KiB.
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..=1_048_576))]
    max_body_kib: u64,
    /// Most guest instances alive at once.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    max_instances: u32,
    /// Memory limit per guest instance, in MiB.
    #[arg(long, default_value_t = 128, value_parser = clap::value_parser!(u64).range(8..=65_536))]
    memory_limit_mib: u64,
    /// Seconds from a request's arrival until its response has been sent in
    /// full (head and body).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    request_timeout: u64,
    /// Seconds a guest may keep working once its response has been sent (a
    /// sync).
    #[arg(long, default_value_t = 900, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    background_timeout: u64,
    /// Seconds a guest waits for an outbound response to start, and between
    /// its bytes (a server listing a calendar of 20,000 events for the
    /// first time can need more than a minute). Never more than the guest's
    /// time left.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
    outbound_timeout: u64,
    /// Most outbound requests one guest instance may have open at once.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..=1024))]
    max_outbound_requests: u64,
    /// Most host resources (streams, requests, handles) one guest instance
    /// may hold at once.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(100..=1_000_000))]
    max_resources: u64,
    /// Longest key the guest may store, in bytes.
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u64).range(16..=65_536))]
    max_key_bytes: u64,
    /// Largest value the guest may store, in MiB.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..=1024))]
    max_value_mib: u64,
    /// Most the store may hold, keys and values together, in MiB.
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..=1_048_576))]
    max_store_mib: u64,
    /// Seconds shutdown waits for requests and guest work before it stops
    /// them (below the 10 s most container runtimes give before SIGKILL).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=3600))]
    shutdown_grace: u64,
}

/// Parses `--store` without clap's usual `invalid value '…'` line, which
/// would print a password in the URL: the message shows the redacted form.
#[derive(Clone)]
struct StoreParser;

impl clap::builder::TypedValueParser for StoreParser {
    type Value = StoreLocation;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        _arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<StoreLocation, clap::Error> {
        let refuse = |message: String| {
            clap::Error::raw(
                clap::error::ErrorKind::ValueValidation,
                format!("{message}\n"),
            )
            .with_cmd(cmd)
        };
        let text = value
            .to_str()
            .ok_or_else(|| refuse("--store is not valid UTF-8".into()))?;
        StoreLocation::parse(text).map_err(|err| refuse(err.to_string()))
    }
}

fn parse_store_prefix(value: &str) -> Result<String, String> {
    if value.is_empty()
        || value.len() > 64
        || value.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err("a prefix is 1 to 64 characters, without spaces, e.g. calplanebot:".into());
    }
    Ok(value.to_string())
}

fn parse_net(value: &str) -> Result<ipnet::IpNet, String> {
    config::parse_address_list(value).and_then(|nets| match nets.as_slice() {
        [net] => Ok(*net),
        _ => Err("expected one IP address or CIDR block, e.g. 10.0.0.0/8".into()),
    })
}

fn main() -> std::process::ExitCode {
    let Cli { command, log } = Cli::parse();
    let env_file = match &command {
        Command::Serve(args) | Command::Sync(args) => args.env_file.clone(),
        Command::Doctor(doctor) => doctor.run.env_file.clone(),
        Command::Config { env_file } => env_file.clone(),
    };
    let process_env: Vec<(String, String)> = std::env::vars().collect();
    let env_file = env_file.or_else(|| Some(PathBuf::from(".env")).filter(|p| p.exists()));
    let config = match ConfigSource::load(process_env, env_file) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("calplanebot: {err}");
            return std::process::ExitCode::from(2);
        }
    };
    // The commands print their own findings: the log says only what went
    // wrong, unless asked for more (RUST_LOG).
    let log_level = match &command {
        Command::Serve(_) => config.current().log_level.clone(),
        _ => "warning".to_string(),
    };
    if matches!(command, Command::Config { .. }) {
        print_keys(&config.current());
        return std::process::ExitCode::SUCCESS;
    }
    let level_control = match logging::init(&log, &log_level) {
        Ok(control) => control,
        Err(err) => {
            eprintln!("calplanebot: {err:#}");
            return std::process::ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            tracing::error!("cannot start the async runtime: {err}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async move {
        match command {
            Command::Serve(args) => {
                tokio::spawn(logging::follow_level(level_control, config.clone()));
                serve(*args, config).await.map(|()| true)
            }
            Command::Doctor(doctor) => run_doctor(*doctor, config).await,
            Command::Sync(args) => run_sync(*args, config).await,
            Command::Config { .. } => Ok(true),
        }
    });
    // Work still on the blocking pool (a store write) gets a moment, not
    // forever: the grace period has already been spent.
    runtime.shutdown_timeout(Duration::from_secs(1));
    match outcome {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::FAILURE,
        Err(err) => {
            tracing::error!("{err:#}");
            eprintln!("calplanebot: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn print_keys(settings: &config::Settings) {
    println!("{:<30} {:<7} {:<16} MEANING", "KEY", "STATE", "DEFAULT");
    for key in config::KEYS {
        let set = settings.vars.iter().any(|(name, _)| *name == key.name);
        let default = if key.default.is_empty() {
            "-"
        } else {
            key.default
        };
        let state = if set { "set" } else { "unset" };
        println!("{:<30} {state:<7} {default:<16} {}", key.name, key.meaning);
    }
}

fn listen_address(args: &ServeArgs) -> anyhow::Result<SocketAddr> {
    if let Some(listen) = args.listen {
        return Ok(listen);
    }
    let host = std::env::var("HOST").unwrap_or_else(|_| "127.0.0.1".into());
    let port = std::env::var("PORT").unwrap_or_else(|_| "8765".into());
    let host = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host
    };
    format!("{host}:{port}")
        .parse()
        .with_context(|| "HOST/PORT do not form a socket address")
}

fn random_hex(bytes: usize) -> anyhow::Result<String> {
    let mut buffer = vec![0u8; bytes];
    getrandom::fill(&mut buffer)
        .map_err(|err| anyhow::anyhow!("no randomness available: {err}"))?;
    Ok(hex::encode(buffer))
}

/// File descriptors kept for everything but client connections: outbound
/// requests, the store, the cache, the listener.
const RESERVED_DESCRIPTORS: u64 = 256;

/// Raises the soft file-descriptor limit to the hard one (as Go's runtime
/// does: systemd's soft 1024 is for programs that use `select`, which this
/// one does not), and returns the connection cap it leaves room for.
fn connection_cap(asked: Option<u32>) -> usize {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    if let (Some(current), Some(hard)) = (limit.current, limit.maximum)
        && current < hard
    {
        let raised = rustix::process::Rlimit {
            current: Some(hard),
            maximum: Some(hard),
        };
        if setrlimit(Resource::Nofile, raised).is_ok() {
            limit = raised;
        }
    }
    let room = limit
        .current
        .map(|fds| fds.saturating_sub(RESERVED_DESCRIPTORS).max(16))
        .unwrap_or(65_536);
    match asked {
        None => room.min(65_536) as usize,
        Some(asked) => {
            if u64::from(asked) > room {
                tracing::warn!(
                    "--max-connections {asked} is more than the file-descriptor limit leaves room for ({room}); raise `ulimit -n` (LimitNOFILE= under systemd)"
                );
            }
            asked as usize
        }
    }
}

async fn open_store(args: &ServeArgs, max_bytes: u64) -> anyhow::Result<Arc<dyn Backend>> {
    let shown = args.store.display();
    let backend: Arc<dyn Backend> = match &args.store {
        StoreLocation::File(path) => Arc::new(
            EmbeddedStore::open(path, max_bytes)
                .with_context(|| format!("cannot open the store {shown}"))?,
        ),
        StoreLocation::Redis(url) => {
            let password = std::env::var("REDIS_PASSWORD")
                .ok()
                .filter(|p| !p.is_empty());
            let timeout = Duration::from_secs(args.store_timeout);
            let timeouts = RedisTimeouts {
                connect: timeout,
                response: timeout,
            };
            let store = RedisStore::connect(
                url,
                password.as_deref(),
                &args.store_prefix,
                max_bytes,
                timeouts,
                shown.clone(),
            )
            .await
            .with_context(|| format!("cannot reach the store {shown} (is Redis running there?)"))?;
            Arc::new(store)
        }
    };
    tracing::info!(store = %shown, "key-value store open");
    Ok(Arc::new(Metered(backend)))
}

/// The sandbox limits the flags ask for.
fn limits(args: &ServeArgs) -> Limits {
    Limits {
        max_instances: args.max_instances,
        memory_bytes: (args.memory_limit_mib * MIB) as usize,
        request_timeout: Duration::from_secs(args.request_timeout),
        background_timeout: Duration::from_secs(args.background_timeout),
        outbound_timeout: Duration::from_secs(args.outbound_timeout),
        outbound_concurrency: args.max_outbound_requests as usize,
        table_entries: args.max_resources as usize,
        store: StoreLimits {
            max_key_bytes: args.max_key_bytes as usize,
            max_value_bytes: (args.max_value_mib * MIB) as usize,
        },
    }
}

const MIB: u64 = 1024 * 1024;

/// The guest, loaded and ready to answer, on `backend`; with `--component`,
/// swapped for each new version of the file when `watch` is set.
fn start_runtime(
    args: &ServeArgs,
    config: Arc<ConfigSource>,
    backend: Arc<dyn Backend>,
    limits: Limits,
    watch: bool,
) -> anyhow::Result<Arc<Runtime>> {
    let extra_allowed = args
        .allow_hosts
        .iter()
        .map(|entry| Allowed::parse(entry))
        .collect::<Result<Vec<_>, _>>()?;
    let engine = runtime::new_engine(&limits)?;
    runtime::start_epoch_ticker(&engine);
    let linker = runtime::new_linker(&engine)?;
    let cache = match CompiledCache::open(&data_dir(args).join("cache"), &engine) {
        Ok(cache) => Some(cache),
        Err(err) => {
            tracing::error!("{err}; compiling without a cache");
            None
        }
    };
    let loader = Arc::new(Loader::new(engine, linker, cache));

    let guest = match &args.component {
        Some(path) => {
            let bytes = std::fs::read(path)
                .with_context(|| format!("cannot read component {}", path.display()))?;
            loader
                .load(&bytes, &path.display().to_string())
                .with_context(|| format!("component {} rejected", path.display()))?
        }
        None => loader.load(EMBEDDED_GUEST, "built-in")?,
    };
    tracing::info!(component = %guest.origin, digest = guest.short_digest(), "component loaded");
    let slot = GuestSlot::new(guest);
    if let Some(path) = args.component.clone().filter(|_| watch) {
        tokio::spawn(component::watch(path, loader.clone(), slot.clone()));
    }
    let host_env = HostEnv {
        boot_id: random_hex(8)?,
        scheduler_token: random_hex(32)?,
    };
    Ok(Arc::new(Runtime::new(
        slot,
        config,
        backend,
        extra_allowed,
        limits,
        host_env,
    )))
}

/// The folder beside the store file (`data` with Redis), which holds the
/// compiled-code cache.
fn data_dir(args: &ServeArgs) -> PathBuf {
    match &args.store {
        StoreLocation::File(path) => path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(".")),
        StoreLocation::Redis(_) => PathBuf::from("data"),
    }
}

/// `doctor` keeps nothing: it runs on a store of its own, deleted after,
/// so it works beside a running `serve`.
async fn run_doctor(doctor: DoctorArgs, config: Arc<ConfigSource>) -> anyhow::Result<bool> {
    let scratch = std::env::temp_dir().join(format!("calplanebot-doctor-{}", random_hex(8)?));
    std::fs::create_dir_all(&scratch)
        .with_context(|| format!("cannot create {}", scratch.display()))?;
    let outcome = async {
        let backend: Arc<dyn Backend> = Arc::new(
            EmbeddedStore::open(&scratch.join("doctor.redb"), 16 * MIB)
                .context("cannot open a scratch store")?,
        );
        let mut limits = limits(&doctor.run);
        // Every check is one request or a few: an unreachable server is
        // reported in seconds, and the whole run has time for them all.
        limits.outbound_timeout = limits.outbound_timeout.min(Duration::from_secs(15));
        limits.request_timeout = limits.request_timeout.max(Duration::from_secs(600));
        let runtime = start_runtime(&doctor.run, config, backend, limits, false)?;
        let options = commands::doctor::Options {
            json: doctor.json,
            write_test: !doctor.no_write,
        };
        commands::doctor::run(&runtime, &options).await
    }
    .await;
    let _ = std::fs::remove_dir_all(&scratch);
    outcome
}

/// Longest a foreground sync may run (a first import of a large workspace
/// paced at half of Plane's rate limit can take hours).
const FOREGROUND_SYNC_LIMIT: Duration = Duration::from_secs(24 * 3600);

async fn run_sync(args: ServeArgs, config: Arc<ConfigSource>) -> anyhow::Result<bool> {
    let backend = match open_store(&args, args.max_store_mib * MIB).await {
        Ok(backend) => backend,
        Err(err) if format!("{err:#}").contains("already open") => anyhow::bail!(
            "{err:#}: a `calplanebot serve` holds this store; ask it instead \
             (`curl -X POST http://127.0.0.1:8765/webhooks/sync`, with \
             `-H 'Authorization: Bearer …'` when CALPLANEBOT_API_TOKEN is set, then \
             GET /webhooks/status for its progress), or run both on Redis (--store redis://…)"
        ),
        Err(err) => return Err(err),
    };
    let mut limits = limits(&args);
    limits.background_timeout = limits.background_timeout.max(FOREGROUND_SYNC_LIMIT);
    let runtime = start_runtime(&args, config, backend, limits, false)?;
    let outcome = commands::sync::run(&runtime).await?;
    Ok(outcome == commands::sync::Outcome::Success)
}

async fn serve(args: ServeArgs, config: Arc<ConfigSource>) -> anyhow::Result<()> {
    let mut signals = signals::Signals::install()?;
    tokio::spawn(signals::reread_on_hangup(
        signals.take_hangups(),
        config.clone(),
    ));
    let backend = open_store(&args, args.max_store_mib * MIB).await?;
    let runtime = start_runtime(&args, config, backend, limits(&args), true)?;
    tokio::spawn(scheduler::run(runtime.clone()));

    let door = server::Door {
        connections: server::ConnectionLimits {
            max_open: connection_cap(args.max_connections),
            header_timeout: Duration::from_secs(args.header_timeout),
            idle_timeout: Duration::from_secs(args.idle_timeout),
        },
        body: server::BodyLimits {
            max_bytes: (args.max_body_kib * 1024) as usize,
            deadline: Duration::from_secs(args.body_timeout),
        },
        trusted_proxies: args.trusted_proxies.clone(),
        tls: match (&args.tls_cert, &args.tls_key) {
            (Some(certificate), Some(key)) => Some(server::TlsFiles {
                certificate: certificate.clone(),
                key: key.clone(),
            }),
            _ => None,
        },
        shutdown_grace: Duration::from_secs(args.shutdown_grace),
    };
    let address = listen_address(&args)?;
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot listen on {address}"))?;
    server::serve(listener, runtime, door, signals.first_stop()).await
}
