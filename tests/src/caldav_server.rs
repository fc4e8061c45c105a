//! Real CalDAV servers for the tests: Radicale and Xandikos from PyPI,
//! installed on first use into a virtualenv under `target/`, each started on
//! a free loopback port with a throw-away storage folder.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// The CalDAV servers, and the reference parser of the metrics format.
const PACKAGES: &[&str] = &[
    "radicale==3.9.0",
    "xandikos==0.4.10",
    "prometheus-client==0.21.1",
];

fn venv_dir() -> PathBuf {
    crate::host::target_dir().join("caldav-venv")
}

/// The virtualenv's Python, with the servers installed (once per machine).
pub fn python() -> &'static Path {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| {
        let venv = venv_dir();
        let python = venv.join("bin/python");
        let ready = venv.join(".ready");
        let wanted = PACKAGES.join(" ");
        if std::fs::read_to_string(&ready).ok().as_deref() != Some(wanted.as_str()) {
            let system = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
            let status = Command::new(&system)
                .args(["-m", "venv", "--clear"])
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
                ])
                .args(PACKAGES)
                .status()
                .expect("pip runs");
            assert!(status.success(), "installing {wanted} failed");
            std::fs::write(&ready, &wanted).expect("marker written");
        }
        python
    })
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Radicale,
    Xandikos,
}

/// A running CalDAV server; stopped when dropped.
pub struct CalDavServer {
    child: Child,
    pub kind: Kind,
    pub port: u16,
    storage: tempfile::TempDir,
}

impl CalDavServer {
    pub fn start(kind: Kind) -> anyhow::Result<CalDavServer> {
        Self::start_inner(kind, None)
    }

    /// Radicale accepting only `user` with `password` (an htpasswd file).
    pub fn start_with_password(user: &str, password: &str) -> anyhow::Result<CalDavServer> {
        Self::start_inner(Kind::Radicale, Some((user, password)))
    }

    fn start_inner(kind: Kind, login: Option<(&str, &str)>) -> anyhow::Result<CalDavServer> {
        let python = python();
        let storage = tempfile::Builder::new().prefix("caldav-").tempdir()?;
        let port = free_port();
        let mut command = Command::new(python);
        match kind {
            Kind::Radicale => {
                let config = storage.path().join("config");
                let auth = match login {
                    None => "type = none".to_string(),
                    Some((user, password)) => {
                        let users = storage.path().join("users");
                        std::fs::write(&users, format!("{user}:{password}\n"))?;
                        format!(
                            "type = htpasswd\nhtpasswd_filename = {}\nhtpasswd_encryption = plain",
                            users.display()
                        )
                    }
                };
                std::fs::write(
                    &config,
                    format!(
                        "[server]\nhosts = 127.0.0.1:{port}\n[auth]\n{auth}\n[rights]\ntype = owner_only\n\
                         [storage]\nfilesystem_folder = {}\n[logging]\nlevel = warning\n",
                        storage.path().join("collections").display()
                    ),
                )?;
                command.args(["-m", "radicale", "--config"]).arg(&config);
            }
            Kind::Xandikos => {
                command
                    .args(["-m", "xandikos", "serve", "--defaults", "-l", "127.0.0.1"])
                    .args([
                        "-p",
                        &port.to_string(),
                        "--current-user-principal",
                        "/user/",
                        "-d",
                    ])
                    .arg(storage.path());
            }
        }
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {kind:?}"))?;
        let mut server = CalDavServer {
            child,
            kind,
            port,
            storage,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = server.child.try_wait()? {
                bail!("{kind:?} exited: {status}");
            }
            if Instant::now() > deadline {
                bail!("{kind:?} did not listen on {port}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(server)
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    /// Where Radicale keeps the collections: `<user>/<calendar>/<href name>`
    /// below it, one file per event. `None` for Xandikos, which keeps a Git
    /// repository instead.
    pub fn storage_root(&self) -> Option<PathBuf> {
        (self.kind == Kind::Radicale).then(|| {
            self.storage
                .path()
                .join("collections")
                .join("collection-root")
        })
    }

    /// The calendar home of the test user (`alice` on Radicale, where any
    /// user name is accepted; Xandikos's single user).
    pub fn home_path(&self) -> &'static str {
        match self.kind {
            Kind::Radicale => "/alice/",
            Kind::Xandikos => "/user/calendars/",
        }
    }
}

impl Drop for CalDavServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
