//! Compiles the guest (`../guest`) to a component and embeds it, so that
//! `cargo run -- serve` needs no path and no separate build step; and the
//! `wasmtime-serve` build, which the host's tests link against each host's
//! world.

#[path = "build/component_build.rs"]
mod component_build;

use std::path::PathBuf;

use component_build::{ComponentBuild, component_target_dir, rerun_if_changed, workspace_root};

fn main() -> anyhow::Result<()> {
    let root = workspace_root();
    rerun_if_changed(&[
        root.join("guest/src"),
        root.join("guest/Cargo.toml"),
        root.join("wit"),
        root.join("Cargo.lock"),
        PathBuf::from("build/component_build.rs"),
    ]);
    println!("cargo:rerun-if-env-changed=CALPLANEBOT_BUILD_LABEL");
    let component = ComponentBuild {
        manifest: &root.join("Cargo.toml"),
        package: "calplanebot-guest",
        features: &[],
        env: &[],
        target_dir: &component_target_dir("guest"),
    }
    .run()
    .map_err(anyhow::Error::msg)?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::copy(&component, out.join("calplanebot_guest.wasm"))?;
    // Its own target folder: a different feature set in the same one would
    // rebuild the guest twice on every change.
    let wasmtime_serve = ComponentBuild {
        manifest: &root.join("Cargo.toml"),
        package: "calplanebot-guest",
        features: &["wasmtime-serve"],
        env: &[],
        target_dir: &component_target_dir("guest-wasmtime-serve"),
    }
    .run()
    .map_err(anyhow::Error::msg)?;
    std::fs::copy(
        &wasmtime_serve,
        out.join("calplanebot_guest_wasmtime_serve.wasm"),
    )?;
    Ok(())
}
