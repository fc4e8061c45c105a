//! Builds a crate of this workspace as a `wasm32-wasip2` component, from a
//! build script. Shared by the host (the built-in guest) and the end-to-end
//! tests (test components).

use std::path::{Path, PathBuf};
use std::process::Command;

/// Variables that the outer cargo sets for build scripts and that would leak
/// into the inner build: wrappers (clippy's would lint the guest with the
/// host's flags), target-specific flags, the jobserver and target overrides.
const OUTER_ONLY: &[&str] = &[
    "RUSTC_WORKSPACE_WRAPPER",
    "RUSTC_WRAPPER",
    "RUSTFLAGS",
    "CARGO_ENCODED_RUSTFLAGS",
    "CARGO_BUILD_TARGET",
    "CARGO_TARGET_DIR",
    "CARGO_MAKEFLAGS",
    "MAKEFLAGS",
    "MFLAGS",
    "CARGO_PRIMARY_PACKAGE",
];

pub struct ComponentBuild<'a> {
    pub manifest: &'a Path,
    pub package: &'a str,
    /// Build features beyond the defaults.
    pub features: &'a [&'a str],
    /// Extra variables for the build, e.g. a build label.
    pub env: &'a [(&'a str, &'a str)],
    pub target_dir: &'a Path,
}

/// The workspace's root, from a member's manifest directory.
pub fn workspace_root() -> PathBuf {
    let manifest_dir =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or(manifest_dir)
}

/// Where inner builds put their artifacts: beside the outer ones, shared by
/// the debug and release builds of the outer crates.
pub fn component_target_dir(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    target.join(name)
}

impl ComponentBuild<'_> {
    /// Runs the build and returns the path of the component.
    pub fn run(&self) -> Result<PathBuf, String> {
        ensure_wasm_target()?;
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut command = Command::new(cargo);
        command
            .arg("build")
            .arg("--release")
            .args(["--target", "wasm32-wasip2"])
            .arg("--manifest-path")
            .arg(self.manifest)
            .args(["--package", self.package])
            .arg("--target-dir")
            .arg(self.target_dir);
        if !self.features.is_empty() {
            command.args(["--features", &self.features.join(",")]);
        }
        for name in OUTER_ONLY {
            command.env_remove(name);
        }
        // Size-optimised guest: smaller components compile and instantiate
        // faster and cost nothing at run time.
        command
            .env("CARGO_PROFILE_RELEASE_OPT_LEVEL", "s")
            .env("CARGO_PROFILE_RELEASE_LTO", "true")
            .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "1")
            .env("CARGO_PROFILE_RELEASE_STRIP", "true");
        for (name, value) in self.env {
            command.env(name, value);
        }
        let status = command
            .status()
            .map_err(|err| format!("cannot run cargo: {err}"))?;
        if !status.success() {
            return Err(format!(
                "building {} for {TARGET} failed ({status}); the compiler's messages above say why",
                self.package
            ));
        }
        let artifact = self
            .target_dir
            .join("wasm32-wasip2/release")
            .join(format!("{}.wasm", self.package.replace('-', "_")));
        if !artifact.exists() {
            return Err(format!("{} was not produced", artifact.display()));
        }
        Ok(artifact)
    }
}

const TARGET: &str = "wasm32-wasip2";

/// Installs the wasm target through rustup when the toolchain lacks it: a
/// rustup that already has the pinned toolchain does not add targets that
/// `rust-toolchain.toml` lists, and the build would otherwise fail with
/// "can't find crate for `core`".
fn ensure_wasm_target() -> Result<(), String> {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
    let Some(sysroot) = sysroot else {
        // Cannot tell: let the build itself say what is missing.
        return Ok(());
    };
    if sysroot.join("lib/rustlib").join(TARGET).exists() {
        return Ok(());
    }
    let manual =
        format!("the Rust target {TARGET} is not installed: run `rustup target add {TARGET}`");
    let mut rustup = Command::new("rustup");
    rustup.args(["target", "add", TARGET]);
    if let Ok(toolchain) = std::env::var("RUSTUP_TOOLCHAIN") {
        rustup.args(["--toolchain", &toolchain]);
    }
    println!(
        "cargo:warning=installing the Rust target {TARGET} through rustup (`rustup target add {TARGET}`)"
    );
    match rustup.status() {
        Ok(status) if status.success() => Ok(()),
        Ok(status) => Err(format!("{manual} (rustup target add exited with {status})")),
        Err(_) => Err(manual),
    }
}

/// Makes the outer build rerun when anything under these paths changes.
pub fn rerun_if_changed(paths: &[PathBuf]) {
    for path in paths {
        println!("cargo:rerun-if-changed={}", path.display());
    }
}
