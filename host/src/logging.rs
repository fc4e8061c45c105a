//! The host's log: text (the default) or one JSON object per line
//! (`--log-format json`), on stderr or in a file rotated by size
//! (`--log-file`, for hosts without a journal); `LOG_LEVEL` from a
//! reloaded env file applies without a restart.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, reload};

use crate::config::{self, ConfigSource};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

/// Where and how to log.
#[derive(clap::Args, Clone, Debug)]
pub struct LogArgs {
    /// `text`, or `json`: one object per line (timestamp, level, target,
    /// fields with the message, and the guest's sync_id and item_id).
    #[arg(long, value_enum, default_value = "text", global = true)]
    pub log_format: Format,
    /// Log to this file instead of stderr, rotated by size (PATH.1 … PATH.5).
    #[arg(long, value_name = "PATH", global = true)]
    pub log_file: Option<PathBuf>,
    /// Size at which --log-file is rotated, in MiB.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=10_240), global = true)]
    pub log_file_max_mib: u64,
}

/// Changes the level filter; `None` when RUST_LOG set it (which wins).
pub struct LevelControl {
    handle: Option<reload::Handle<EnvFilter, tracing_subscriber::Registry>>,
}

/// `LOG_LEVEL` is about the service's own lines (the host's and the
/// guest's); libraries log warnings only. RUST_LOG overrides both.
fn filter_for(level: &str) -> EnvFilter {
    let level = config::log_directive(level).unwrap_or("info");
    EnvFilter::new(format!("warn,calplanebot={level},guest={level}"))
}

pub fn init(args: &LogArgs, level: &str) -> anyhow::Result<LevelControl> {
    let from_env = EnvFilter::try_from_default_env().ok();
    let fixed = from_env.is_some();
    let (filter, handle) = reload::Layer::new(from_env.unwrap_or_else(|| filter_for(level)));
    let writer = match &args.log_file {
        Some(path) => Output::File(Arc::new(Mutex::new(Rotating::open(
            path,
            args.log_file_max_mib * 1024 * 1024,
        )?))),
        None => Output::Stderr,
    };
    let ansi = args.log_file.is_none() && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let registry = tracing_subscriber::registry().with(filter);
    match args.log_format {
        Format::Text => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(writer)
                    .with_ansi(ansi),
            )
            .init(),
        Format::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(false)
                    .with_current_span(false)
                    .with_writer(writer),
            )
            .init(),
    }
    Ok(LevelControl {
        handle: (!fixed).then_some(handle),
    })
}

/// Applies each new `LOG_LEVEL` (a reloaded env file) to the filter.
pub async fn follow_level(control: LevelControl, config: Arc<ConfigSource>) {
    let Some(handle) = control.handle else {
        return;
    };
    let mut applied = config.current().log_level.clone();
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let wanted = config.current().log_level.clone();
        if wanted != applied {
            match handle.reload(filter_for(&wanted)) {
                Ok(()) => tracing::info!(level = %wanted, "LOG_LEVEL applied"),
                Err(err) => tracing::warn!("LOG_LEVEL not applied: {err}"),
            }
            applied = wanted;
        }
    }
}

#[derive(Clone)]
enum Output {
    Stderr,
    File(Arc<Mutex<Rotating>>),
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Output {
    type Writer = Box<dyn Write + 'a>;

    fn make_writer(&'a self) -> Self::Writer {
        match self {
            Output::Stderr => Box::new(std::io::stderr()),
            Output::File(file) => Box::new(LockedFile(file)),
        }
    }
}

struct LockedFile<'a>(&'a Mutex<Rotating>);

impl Write for LockedFile<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let mut file = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        file.write(bytes)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let mut file = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        file.flush()
    }
}

/// Rotated files kept beside the current one.
const KEPT: u32 = 5;

/// A log file that moves to `PATH.1` (and older ones up to `PATH.5`) when
/// the next record would take it past `max_bytes`.
struct Rotating {
    path: PathBuf,
    file: File,
    written: u64,
    max_bytes: u64,
}

impl Rotating {
    fn open(path: &Path, max_bytes: u64) -> anyhow::Result<Self> {
        let file = append(path).map_err(|err| {
            anyhow::anyhow!(
                "cannot write the log file {} ({err}); check --log-file and that its folder exists",
                path.display()
            )
        })?;
        let written = file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(Rotating {
            path: path.to_path_buf(),
            file,
            written,
            max_bytes,
        })
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        let numbered = |n: u32| PathBuf::from(format!("{}.{n}", self.path.display()));
        for n in (1..KEPT).rev() {
            let _ = std::fs::rename(numbered(n), numbered(n + 1));
        }
        std::fs::rename(&self.path, numbered(1))?;
        self.file = append(&self.path)?;
        self.written = 0;
        Ok(())
    }
}

fn append(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

impl Write for Rotating {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if self.written > 0 && self.written + bytes.len() as u64 > self.max_bytes {
            // A failed rotation keeps logging to the current file.
            let _ = self.rotate();
        }
        let n = self.file.write(bytes)?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_rotates_by_size_and_keeps_five() {
        let dir = std::env::temp_dir().join(format!("calplanebot-log-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("calplanebot.log");
        let mut log = Rotating::open(&path, 100).unwrap();
        for n in 0..40 {
            writeln!(log, "record {n:02} {}", "x".repeat(40)).unwrap();
        }
        let current = std::fs::read_to_string(&path).unwrap();
        assert!(current.len() <= 100, "{}", current.len());
        assert!(current.contains("record 39"));
        assert!(
            std::fs::read_to_string(dir.join("calplanebot.log.1"))
                .unwrap()
                .contains("record 3")
        );
        assert!(dir.join("calplanebot.log.5").exists());
        assert!(!dir.join("calplanebot.log.6").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
