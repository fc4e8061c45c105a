//! Real CalDAV servers for the tests: Radicale from PyPI, installed on
//! first use into a virtualenv under `target/`, started on a free loopback
//! port with a throw-away storage folder.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

const RADICALE: &str = "radicale==3.9.0";

fn venv_dir() -> PathBuf {
    crate::host::target_dir().join("caldav-venv")
}

/// The virtualenv's Python, with Radicale installed (once per machine).
pub fn python() -> &'static Path {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| {
        let venv = venv_dir();
        let python = venv.join("bin/python");
        let ready = venv.join(".ready");
        if !ready.exists() {
            let system = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
            let status = Command::new(&system)
                .args(["-m", "venv"])
                .arg(&venv)
                .status()
                .expect("python3 runs");
            assert!(status.success(), "creating the virtualenv failed");
            let status = Command::new(&python)
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    RADICALE,
                ])
                .status()
                .expect("pip runs");
            assert!(status.success(), "installing {RADICALE} failed");
            std::fs::write(&ready, RADICALE).expect("marker written");
        }
        python
    })
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A running Radicale; stopped when dropped.
pub struct Radicale {
    child: Child,
    pub port: u16,
    _storage: tempfile::TempDir,
}

impl Radicale {
    pub fn start() -> anyhow::Result<Radicale> {
        let python = python();
        let storage = tempfile::Builder::new().prefix("radicale-").tempdir()?;
        let port = free_port();
        let config = storage.path().join("config");
        std::fs::write(
            &config,
            format!(
                "[server]\nhosts = 127.0.0.1:{port}\n[auth]\ntype = none\n[rights]\ntype = owner_only\n\
                 [storage]\nfilesystem_folder = {}\n[logging]\nlevel = warning\n",
                storage.path().join("collections").display()
            ),
        )?;
        let child = Command::new(python)
            .args(["-m", "radicale", "--config"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .context("starting radicale")?;
        let mut server = Radicale {
            child,
            port,
            _storage: storage,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = server.child.try_wait()? {
                bail!("radicale exited: {status}");
            }
            if Instant::now() > deadline {
                bail!("radicale did not listen on {port}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(server)
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }
}

impl Drop for Radicale {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
