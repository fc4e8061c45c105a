//! `calplanebot serve`: runs the calplanebot guest component.

mod component;
mod config;
mod guest_log;
mod keyvalue;
mod outbound;
mod runtime;
mod scheduler;
mod server;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use crate::component::{GuestSlot, Loader};
use crate::config::ConfigSource;
use crate::keyvalue::EmbeddedStore;
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
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API and run the periodic sync.
    Serve(ServeArgs),
    /// List the configuration keys the guest receives, with their defaults
    /// and whether each is set (values are never shown).
    Config {
        /// Env file to consult besides the environment [default: ./.env if present]
        #[arg(long)]
        env_file: Option<PathBuf>,
    },
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
    /// Env file with configuration, re-read when it changes [default: ./.env if present]
    #[arg(long)]
    env_file: Option<PathBuf>,
    /// Key-value store file.
    #[arg(long, default_value = "data/calplanebot.redb")]
    store: PathBuf,
    /// Extra destination the guest may reach: host, host:port or a URL's origin.
    /// Repeatable. The origins of PLANE_BASE_URL and CALDAV_URL are always allowed.
    #[arg(long = "allow-host", value_name = "HOST")]
    allow_hosts: Vec<String>,
    /// Most guest instances alive at once.
    #[arg(long, default_value_t = 64)]
    max_instances: u32,
    /// Memory limit per guest instance, in MiB.
    #[arg(long, default_value_t = 128)]
    memory_limit_mib: usize,
    /// Seconds a guest has to answer a request.
    #[arg(long, default_value_t = 30)]
    request_timeout: u64,
    /// Seconds a guest may keep working after answering (e.g. a sync).
    #[arg(long, default_value_t = 900)]
    background_timeout: u64,
    /// Seconds a guest waits for an outbound response to start, and between
    /// its bytes (a server listing a calendar of 20,000 events for the
    /// first time can need more than a minute).
    #[arg(long, default_value_t = 60)]
    outbound_timeout: u64,
}

fn main() -> std::process::ExitCode {
    let (args, env_file) = match Cli::parse().command {
        Command::Serve(args) => {
            let env_file = args.env_file.clone();
            (Some(args), env_file)
        }
        Command::Config { env_file } => (None, env_file),
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
    let Some(args) = args else {
        print_keys(&config.current());
        return std::process::ExitCode::SUCCESS;
    };
    init_logging(&config.current().log_level);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            tracing::error!("cannot start the async runtime: {err}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(args, config)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{err:#}");
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

fn init_logging(level: &str) {
    // LOG_LEVEL is about the service's own lines (the host's and the
    // guest's); libraries log warnings only. RUST_LOG overrides both.
    let level = config::log_directive(level).unwrap_or("info");
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!("warn,calplanebot={level},guest={level}"))
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
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

async fn serve(args: ServeArgs, config: Arc<ConfigSource>) -> anyhow::Result<()> {
    let extra_allowed = args
        .allow_hosts
        .iter()
        .map(|entry| Allowed::parse(entry))
        .collect::<Result<Vec<_>, _>>()?;
    let limits = Limits {
        max_instances: args.max_instances,
        memory_bytes: args.memory_limit_mib * 1024 * 1024,
        request_timeout: Duration::from_secs(args.request_timeout),
        background_timeout: Duration::from_secs(args.background_timeout),
        outbound_timeout: Duration::from_secs(args.outbound_timeout.max(1)),
    };
    let engine = runtime::new_engine(&limits)?;
    runtime::start_epoch_ticker(&engine);
    let linker = runtime::new_linker(&engine)?;
    let data_dir = args
        .store
        .parent()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    let loader = Arc::new(Loader::new(engine, linker, Some(data_dir.join("cache"))));

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
    if let Some(path) = args.component.clone() {
        tokio::spawn(component::watch(path, loader.clone(), slot.clone()));
    }

    let backend = Arc::new(
        EmbeddedStore::open(&args.store)
            .with_context(|| format!("cannot open the store {}", args.store.display()))?,
    );
    tracing::info!(path = %args.store.display(), "key-value store open");
    let host_env = HostEnv {
        boot_id: random_hex(8)?,
        scheduler_token: random_hex(32)?,
    };
    let runtime = Arc::new(Runtime::new(
        slot,
        config,
        backend,
        extra_allowed,
        limits,
        host_env,
    ));
    tokio::spawn(scheduler::run(runtime.clone()));

    let address = listen_address(&args)?;
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot listen on {address}"))?;
    tracing::info!("listening on http://{}", listener.local_addr()?);
    server::serve(listener, runtime, shutdown_signal()).await
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}
