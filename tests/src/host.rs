//! The `calplanebot` binary as a child process.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// `target/`, from the test executable's place in `target/<profile>/deps`.
pub fn target_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.parent()?.to_path_buf()))
        .expect("test executable lives in target/<profile>/deps")
}

/// The host binary, built on first use in the profile these tests run in
/// (`cargo test` builds libraries and tests, not other packages' binaries).
pub fn host_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let profile_dir = std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent()?.parent().map(Path::to_path_buf))
            .expect("test executable lives in target/<profile>/deps");
        let release = profile_dir.ends_with("release");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut build = Command::new(cargo);
        build
            .args(["build", "--package", "calplanebot", "--bin", "calplanebot"])
            .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
        if release {
            build.arg("--release");
        }
        let status = build.status().expect("cargo runs");
        assert!(status.success(), "building the host failed");
        profile_dir.join("calplanebot")
    })
}

/// How to start a host.
#[derive(Default, Clone)]
pub struct HostOptions {
    pub component: Option<PathBuf>,
    /// Environment of the host process (nothing is inherited but `PATH`).
    pub env: Vec<(String, String)>,
    pub args: Vec<String>,
    /// File-descriptor limit (soft and hard) of the host process, as
    /// `LimitNOFILE=` under systemd sets it.
    pub nofile: Option<u64>,
}

impl HostOptions {
    pub fn component(mut self, path: impl Into<PathBuf>) -> Self {
        self.component = Some(path.into());
        self
    }

    pub fn env(mut self, key: &str, value: impl Into<String>) -> Self {
        self.env.push((key.to_string(), value.into()));
        self
    }

    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    pub fn nofile(mut self, limit: u64) -> Self {
        self.nofile = Some(limit);
        self
    }
}

/// A running host. Killed when dropped.
pub struct Host {
    child: Option<Child>,
    pub addr: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
    /// Working directory: holds `data/` (the store) and any `.env`.
    pub dir: PathBuf,
}

impl Host {
    /// Starts a host in `dir` (created if needed), listening on a free port.
    pub fn start(dir: &Path, options: &HostOptions) -> anyhow::Result<Host> {
        std::fs::create_dir_all(dir)?;
        let mut command = Command::new(host_binary());
        command
            .arg("serve")
            .args(["--listen", "127.0.0.1:0"])
            .args(&options.args)
            .current_dir(dir)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("LOG_LEVEL", "DEBUG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(component) = &options.component {
            command.arg("--component").arg(component);
        }
        for (key, value) in &options.env {
            command.env(key, value);
        }
        if let Some(limit) = options.nofile {
            use std::os::unix::process::CommandExt;
            let limit = rustix::process::Rlimit {
                current: Some(limit),
                maximum: Some(limit),
            };
            // SAFETY: setrlimit is async-signal-safe and touches no memory
            // shared with the parent.
            unsafe {
                command.pre_exec(move || {
                    rustix::process::setrlimit(rustix::process::Resource::Nofile, limit)
                        .map_err(std::io::Error::from)
                });
            }
        }
        Self::spawn(command, dir)
    }

    /// Starts `wasmtime serve` on `component` in `dir`, listening on a free
    /// port, with `options.env` as the guest's environment (`--env`) and
    /// `config` as its `wasi:config` variables (`-S config-var`). Its
    /// keyvalue store is wasmtime's in-memory one, forgotten at every open.
    pub fn start_wasmtime_serve(
        dir: &Path,
        component: &Path,
        options: &HostOptions,
        config: &[(String, String)],
    ) -> anyhow::Result<Host> {
        std::fs::create_dir_all(dir)?;
        let wasmtime = crate::wasmtime_cli::binary().context("wasmtime 48 is not installed")?;
        let mut command = Command::new(wasmtime);
        command
            .args(["serve", "-Scli", "-Skeyvalue", "-Sconfig"])
            .args(["--addr", "127.0.0.1:0"])
            .current_dir(dir)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .stdin(Stdio::null())
            // Guest stdout (its log) goes to wasmtime's stdout.
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command.args(["--env", "LOG_LEVEL=DEBUG"]);
        for (key, value) in &options.env {
            command.arg("--env").arg(format!("{key}={value}"));
        }
        for (key, value) in config {
            command.arg(format!("-Sconfig-var={key}={value}"));
        }
        command.args(&options.args).arg(component);
        Self::spawn(command, dir)
    }

    /// Runs `command`, logs its stdout and stderr, and waits for the line
    /// that announces its address (`listening on …`, or wasmtime's
    /// `Serving HTTP on …`).
    fn spawn(mut command: Command, dir: &Path) -> anyhow::Result<Host> {
        let mut child = command.spawn().context("starting the host")?;
        let log = Arc::new(Mutex::new(Vec::new()));
        let (address_tx, address_rx) = std::sync::mpsc::channel();
        let streams: Vec<Box<dyn std::io::Read + Send>> = [
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        .collect();
        for stream in streams {
            let log = log.clone();
            let address_tx = address_tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    eprintln!("[host] {line}");
                    let address = ["listening on ", "Serving HTTP on "]
                        .iter()
                        .find_map(|marker| line.split(marker).nth(1))
                        .map(|address| {
                            let address = address.trim();
                            let address = address
                                .strip_prefix("https://")
                                .or_else(|| address.strip_prefix("http://"))
                                .unwrap_or(address);
                            // The address ends where a JSON log line's quote
                            // (or a trailing slash) begins.
                            address
                                .chars()
                                .take_while(|c| c.is_ascii_alphanumeric() || ".:[]".contains(*c))
                                .collect::<String>()
                        });
                    // Recorded before the address is announced, so a test that
                    // has the address also sees the line that carried it.
                    log.lock().unwrap().push(line);
                    if let Some(address) = address {
                        let _ = address_tx.send(address);
                    }
                }
            });
        }
        let address = match address_rx.recv_timeout(Duration::from_secs(60)) {
            Ok(address) => address,
            Err(_) => {
                let _ = child.kill();
                let status = child.wait()?;
                bail!("host did not start ({status}): {:?}", log.lock().unwrap());
            }
        };
        Ok(Host {
            child: Some(child),
            addr: address.parse()?,
            log,
            dir: dir.to_path_buf(),
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    pub fn log_contains(&self, needle: &str) -> bool {
        self.log.lock().unwrap().iter().any(|l| l.contains(needle))
    }

    /// Waits until a log line contains `needle`.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.log_contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or(0)
    }

    /// Sends a signal (`TERM`, `HUP`, `KILL`…) to the host.
    pub fn signal(&self, name: &str) {
        let _ = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid().to_string())
            .status();
    }

    /// SIGTERM, then waits for the process to exit.
    pub fn stop(self) -> anyhow::Result<ExitStatus> {
        self.signal("TERM");
        self.wait_exit(Duration::from_secs(40))
    }

    /// Waits for the process to exit by itself; killed after `timeout`.
    pub fn wait_exit(mut self, timeout: Duration) -> anyhow::Result<ExitStatus> {
        let mut child = self.child.take().context("already stopped")?;
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = child.try_wait()? {
                return Ok(status);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                bail!("host did not exit within {timeout:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|child| matches!(child.try_wait(), Ok(None)))
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A host serving the probe component in a fresh directory (kept as long
/// as the returned guard lives).
pub fn probe_host(name: &str, options: HostOptions) -> (Host, tempfile::TempDir) {
    let dir = test_dir(name);
    let host = Host::start(dir.path(), &options.component(crate::components::probe()))
        .expect("the probe host starts");
    (host, dir)
}

/// A fresh directory for one test under the system temporary directory.
pub fn test_dir(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("calplanebot-{name}-"))
        .tempdir()
        .expect("temporary directory")
}

/// A blocking HTTP client with short timeouts and no proxy.
pub fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("HTTP client")
}

/// What a `calplanebot` command (not `serve`) printed, and how it exited.
pub struct CommandRun {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl CommandRun {
    /// Both streams, for assertion messages.
    pub fn all(&self) -> String {
        format!("stdout:\n{}\nstderr:\n{}", self.stdout, self.stderr)
    }
}

/// Runs `calplanebot <args>` in `dir` with `options.env` as its whole
/// environment (and `PATH`), to its end.
pub fn run_command(dir: &Path, options: &HostOptions, args: &[&str]) -> CommandRun {
    std::fs::create_dir_all(dir).expect("command folder");
    let mut command = Command::new(host_binary());
    command
        .args(args)
        .args(&options.args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .stdin(Stdio::null());
    for (key, value) in &options.env {
        command.env(key, value);
    }
    let output = command.output().expect("the command runs");
    let run = CommandRun {
        status: output.status,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    eprintln!("[calplanebot {}] {}", args.join(" "), run.all());
    run
}
