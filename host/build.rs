//! Compiles the guest (`../guest`) to a component and embeds it, so that
//! `cargo run -- serve` needs no path and no separate build step.

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
    let out = PathBuf::from(std::env::var("OUT_DIR")?).join("calplanebot_guest.wasm");
    std::fs::copy(&component, &out)?;
    Ok(())
}
